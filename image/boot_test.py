"""`python -m image.boot_test` (`make image-test`): boot the image under qemu and check the box from outside.

The owner's part is played as on a real card: studio-setup.toml on the boot
partition gives an SSH key and the MCP token. Then: MCP answers on the
forwarded port, the three services are active, the root is read-only, a
waveform played into snd-aloop comes back sample-exact through MCP, and a
USB sound card hot-plugged through the qemu monitor reaches device_list.
Then the box reboots: what first boot made (machine ID, hostname, SSH host
key, token, authorized keys) is still there, kept on the data partition, and
MCP answers again. Last, systemd (PID 1) is stopped dead as a hang would
stop it, and the hardware watchdog (qemu's i6300esb) must reset the box into
a good boot. Prints each step with its time since qemu started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
from pathlib import Path

from image import box_checks
from image import DEFAULT_OUT
from image.qemu_vm import BootedBox, ssh_keypair

BOOT_TIMEOUT = 420
HOTPLUG_ID = "studio-hotplug"


def load_record(out: Path, arch: str = "amd64") -> dict:
    """What `python -m image.build` wrote about the image; tells how to build it when missing."""
    path = out / f"studio-{arch}.json"
    if not path.is_file():
        make = "make image" if arch == "amd64" else f"make image-{arch}"
        raise FileNotFoundError(f"{path}: no image; build it with `{make}` (python -m image.build --arch {arch})")
    return json.loads(path.read_text())


def setup_toml(public_key: str, token: str) -> str:
    return f'authorized_keys = ["{public_key}"]\nmcp_token = "{token}"\n'


def run_checks(record: dict, workdir: Path, say=print) -> dict:
    """Boot once and run every check; returns the measured times and results, raises on the first failure."""
    key, public = ssh_keypair(workdir)
    token = "vm-" + secrets.token_urlsafe(24)
    results: dict = {}
    with BootedBox(record, workdir / "boot", setup_toml(public, token), key) as box:
        say(f"qemu started ({' '.join(box.accel)}); MCP on {box.base_url}, SSH on port {box.ssh_port}")
        results["mcp_ready_s"] = box.wait_for_http(BOOT_TIMEOUT)
        say(f"[{box.since_start():6.1f}s] hootenanny answers /healthz")
        box.wait_for_ssh(120)
        results["services"] = box_checks.services_active(box.ssh)
        say(f"[{box.since_start():6.1f}s] services active: {results['services']}")
        results["read_only_root"] = box_checks.root_is_read_only(box.ssh)
        say(f"[{box.since_start():6.1f}s] / is read-only: {results['read_only_root']}")
        results["hostname"] = box.ssh("hostname").strip()
        results["data_bytes"] = box_checks.data_partition_grown(box.ssh)
        say(f"[{box.since_start():6.1f}s] hostname {results['hostname']}; data partition grown to "
            f"{results['data_bytes'] / 2**20:.0f} MiB")
        results["loopback"] = asyncio.run(box_checks.loopback_recording_is_exact(
            box.base_url, token, box.ssh, lambda m: say(f"[{box.since_start():6.1f}s] {m}")))
        say(f"[{box.since_start():6.1f}s] loopback recording sample-exact: {results['loopback']}")
        results["hotplug_device"] = asyncio.run(box_checks.hotplug_reaches_device_list(
            box.base_url, token,
            lambda: box.monitor(f"device_add usb-audio,id={HOTPLUG_ID},audiodev=snd0,bus=xhci.0"),
            lambda: box.monitor(f"device_del {HOTPLUG_ID}")))
        say(f"[{box.since_start():6.1f}s] hot-plugged USB audio reached device_list as "
            f"{results['hotplug_device']!r}, and its removal too")
        results["identity_before_reboot"] = box_checks.identity(box.ssh)
        rebooted_at = box.since_start()
        say(f"[{rebooted_at:6.1f}s] rebooting")
        box.reboot(BOOT_TIMEOUT)
        results["mcp_ready_after_reboot_s"] = box.wait_for_http(BOOT_TIMEOUT) - rebooted_at
        results["identity_after_reboot"] = box_checks.identity(box.ssh)
        results["services_after_reboot"] = box_checks.services_active(box.ssh)
        results["read_only_root_after_reboot"] = box_checks.root_is_read_only(box.ssh)
        say(f"[{box.since_start():6.1f}s] after the reboot: {results['identity_after_reboot']}, services "
            f"{results['services_after_reboot']}")
        hang_is_reset(box, results, say)
    return results


def hang_is_reset(box: BootedBox, results: dict, say) -> None:
    """systemd stopped in its tracks, a hang no panic reports: the hardware watchdog resets the box."""
    results["watchdog"] = box_checks.watchdog_armed(box.ssh)
    old_boot = box.boot_id()
    hung_at = box.since_start()
    results["pid1_hung"] = box_checks.hang_pid1(box.ssh)
    say(f"[{hung_at:6.1f}s] watchdog {results['watchdog']}; PID 1 stopped: {results['pid1_hung']}")
    box.wait_for_boot_after(old_boot, BOOT_TIMEOUT)
    results["back_after_hang_s"] = box.wait_for_http(BOOT_TIMEOUT) - hung_at
    results["services_after_hang"] = box_checks.services_active(box.ssh)
    say(f"[{box.since_start():6.1f}s] reset by the watchdog and back: services {results['services_after_hang']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.boot_test", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where `image.build` put the image")
    parser.add_argument("--arch", choices=["amd64", "arm64"], default="amd64",
                        help="arm64: the Pi image through U-Boot and its boot script on qemu's virt board (TCG, slow)")
    args = parser.parse_args(argv)
    record = load_record(args.out, args.arch)
    with tempfile.TemporaryDirectory(prefix="studio-vm-", dir="/var/tmp") as workdir:
        results = run_checks(record, Path(workdir))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
