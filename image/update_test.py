"""`python -m image.update_test [--arch A]`: an A/B update, refused forgeries and a rollback, on the image under qemu.

From the last build (its version V and its rootfs) two updates are made,
signed with the build's key: V.1 as built, and V.2 with the `studio` program
removed from its root filesystem (debugfs, no mount), so none of the three
services can start. From V.2 come three forgeries (image.forged_updates):
one bit of its root filesystem flipped, signed by a key made for the test,
and without a signature. On one box, booted through OVMF and systemd-boot
(amd64) or U-Boot and the Pi's boot script (arm64):

1. V boots from slot A; `studio-update V.1` writes slot B and gives V.1
   three tries (amd64: a boot entry `+3-0`; arm64: U-Boot's state file);
   after a reboot V.1 runs from slot B, studio-good-boot passes and the
   counter goes (systemd-bless-boot; arm64: boot-trial bless).
2. amd64 only: `studio-update` refuses each forgery, and the box still runs
   V.1 with its slots, entries and boot files as they were. The check is
   the same script on the Pi, whose emulated run is four times slower.
3. `studio-update V.2` writes slot A (the one not running); after a reboot
   V.2 fails its boot assessment, reboots, fails again until its tries are
   used up, and the loader starts V.1 again, which answers MCP with the
   same token and identity as before.

Every step prints its time since qemu started.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from image import DEFAULT_OUT, box_checks, forged_updates, signing, sysupdate, uboot, update
from image.boot_test import BOOT_TIMEOUT, load_record, setup_toml
from image.qemu_vm import BootedBox, ssh_keypair, wait_until
from image.state import BOOT_MOUNTS

BROKEN = "/opt/studio/venv/bin/studio"
# Three tries of a broken version, each a full boot under TCG, then the old one.
ROLLBACK_TIMEOUT = 3600
UPDATE_ROOM = 4 << 30


def break_studio(root_image: Path) -> None:
    """Remove the `studio` program from a root filesystem image, so chaosgarden, hootenanny and vibeweaver cannot start."""
    subprocess.run(["debugfs", "-w", "-R", f"rm {BROKEN}", str(root_image)], check=True, capture_output=True)
    # debugfs exits 0 even when a command fails, so look.
    gone = subprocess.run(["debugfs", "-R", f"stat {BROKEN}", str(root_image)], capture_output=True, text=True)
    if "File not found" not in gone.stderr:
        raise RuntimeError(f"{root_image}: {BROKEN} is still there after debugfs rm: {gone.stderr.strip()}")


def running(box: BootedBox) -> dict[str, object]:
    """The version running, the slot it runs from, the boot's verdict, the slots' labels, and the boot files.

    amd64: systemd-bless-boot's verdict, the boot entries, and the kernels and
    initrds on the ESP. arm64: boot-trial's verdict (clean, trial,
    rolled-back), the try counter's state, and the kernels and initrds on
    the boot partition.
    """
    amd64 = box.record["arch"] == "amd64"
    boot = BOOT_MOUNTS[box.record["arch"]]
    verdict = box_checks.LOADER_STATUS[box.record["arch"]] + ("" if amd64 else " | sed 's/^verdict=//; s/ .*//'")
    entries = f"sudo ls {boot}/loader/entries" if amd64 else f"sudo cat {boot}/{uboot.STATE} | tr -d '\\0'"
    text = box.ssh(f"{box_checks.RUNNING_VERSION}; "
                    "lsblk -no PARTLABEL \"$(findmnt -no SOURCE /)\"; "
                    f"{verdict}; echo --; "
                    "lsblk -nro PARTLABEL | grep -E '^(studio_|_empty)'; echo --; "
                    f"{entries}; echo --; sudo ls {boot} | grep -E '^studio_.+[.](vmlinuz|initrd)$'",
                    timeout=60)
    head, slot_labels, entries_text, boot_files = (text + "\n").split("--\n")
    version, slot, bless = head.split()
    return {"version": version, "slot": slot, "bless": bless, "slots": sorted(slot_labels.split()),
            "entries": sorted(entries_text.split()), "boot_files": sorted(boot_files.split())}


def run_update(box: BootedBox, update_file: Path, say: Callable[[str], None]) -> tuple[int, str]:
    """scp the update file to the box and run studio-update there, as an owner would; returns its exit status and
    output."""
    remote = f"/var/tmp/{update_file.name}"
    box.copy_in(update_file, remote)
    say(f"[{box.since_start():6.1f}s] {update_file.name} copied to the box")
    output = box.ssh(f"sudo studio-update {remote} 2>&1; echo \"studio-update exit $?\"; rm -f {remote}",
                     timeout=1200)
    *lines, last = output.strip().splitlines()
    say(f"[{box.since_start():6.1f}s] studio-update: {lines[-1] if lines else ''} ({last})")
    return int(last.split()[-1]), "\n".join(lines)


def install(box: BootedBox, update_file: Path, say: Callable[[str], None]) -> str:
    """run_update, which must succeed; returns its output."""
    status, output = run_update(box, update_file, say)
    if status != 0:
        raise RuntimeError(f"studio-update {update_file.name}: exit {status}:\n{output}")
    return output


def forgeries(update_file: Path, arch: str, version: str, foreign: signing.SigningKey,
              workdir: Path) -> dict[str, Path]:
    """Bad copies of a good, signed update of `version`: a bit of its root filesystem flipped, signed by `foreign`,
    unsigned."""
    return {
        "altered": forged_updates.altered(update_file, sysupdate.source_names(arch, version)["root"],
                                          workdir / f"altered-{update_file.name}"),
        "foreign": forged_updates.signed_by(update_file, foreign, workdir / f"foreign-{update_file.name}"),
        "unsigned": forged_updates.unsigned(update_file, workdir / f"unsigned-{update_file.name}"),
    }


def wait_assessed(box: BootedBox, timeout: float) -> dict[str, str]:
    """studio-good-boot (and on amd64 systemd-bless-boot) finished: active or failed."""
    units = ("studio-good-boot.service",) + (("systemd-bless-boot.service",) if box.record["arch"] == "amd64" else ())

    def finished() -> dict[str, str]:
        states = dict(zip(units, box.ssh("systemctl is-active " + " ".join(units), check=False).split()))
        return states if all(s in ("active", "failed") for s in states.values()) and len(states) == len(units) else {}
    return wait_until(finished, timeout, "the boot was never assessed", every=3)


def wait_for_version(box: BootedBox, version: str, after_boot: str, timeout: float) -> list[str]:
    """Follow the box through its own reboots until a boot of `version` answers; returns the versions of the boots seen."""
    seen: dict[str, str] = {}

    def booted() -> bool:
        box.check_alive()
        try:
            answer = box.ssh(f"cat /proc/sys/kernel/random/boot_id; {box_checks.RUNNING_VERSION}",
                             timeout=30, check=False).split()
        except subprocess.TimeoutExpired:
            return False
        if len(answer) != 2 or answer[0] == after_boot:
            return False
        seen.setdefault(answer[0], answer[1])
        return answer[1] == version
    wait_until(booted, timeout, f"{version} never came back (boots seen: {list(seen.values())})\n"
                                f"{box.console_tail()}", every=3)
    return list(seen.values())


def run_scenario(record: dict, workdir: Path, say=print) -> dict:
    """Make the two updates and the forgeries, boot one box and take it through them; returns what was seen at each
    step."""
    base = record["version"]
    good_version, broken_version = f"{base}.1", f"{base}.2"
    tree = Path(record["image"]).parent / f"work-{record['arch']}/rootfs"
    if "signing_key" not in record:
        raise ValueError(f"{record['image']} was built before updates were signed; build it again (make image)")
    signing_key = signing.load(Path(record["signing_key"]))
    try:
        good = update.make_update(record["arch"], tree, workdir, workdir, good_version, signing_key, say)
        broken = update.make_update(record["arch"], tree, workdir, workdir, broken_version, signing_key, say,
                                    alter_root=break_studio)
    finally:
        update.stamp_version(tree, base)
    foreign = signing.create(workdir / "foreign-key")
    # The signature check is the same Python on both arches, so the Pi's slower emulated run skips it.
    forged = forgeries(broken, record["arch"], broken_version, foreign, workdir) if record["arch"] == "amd64" else {}
    if forged:
        say(f"forged from {broken.name}: root altered, signed by {foreign.fingerprint}, unsigned")
    key, public = ssh_keypair(workdir)
    token = "vm-" + secrets.token_urlsafe(24)
    results: dict = {"versions": {"built": base, "good": good_version, "broken": broken_version},
                     "keys": {"ours": signing_key.fingerprint, "foreign": foreign.fingerprint}}
    with BootedBox(record, workdir / "box", setup_toml(public, token), key, grow_bytes=UPDATE_ROOM) as box:
        say(f"qemu started ({' '.join(box.accel)}); MCP on {box.base_url}, SSH on port {box.ssh_port}")
        box.wait_for_http(BOOT_TIMEOUT)
        box.wait_for_ssh(120)
        results["first"] = running(box)
        results["identity_first"] = box_checks.identity(box.ssh)
        results["loader_first"] = box_checks.loader_state(box.ssh)
        say(f"[{box.since_start():6.1f}s] running {results['first']}")

        results["install_good"] = install(box, good, say)
        results["after_install_good"] = running(box)
        box.reboot(BOOT_TIMEOUT)
        box.wait_for_http(BOOT_TIMEOUT)
        results["good_assessed"] = wait_assessed(box, 900)
        results["good"] = running(box)
        say(f"[{box.since_start():6.1f}s] after the update: {results['good']}, assessed {results['good_assessed']}")

        results["refused"] = {}
        for kind in forged:
            status, output = run_update(box, forged[kind], say)
            results["refused"][kind] = {"status": status, "output": output, "running": running(box),
                                        "left_behind": box.ssh("sudo ls -A /data/update 2>&1", check=False).strip()}
            forged[kind].unlink()
        results["services_after_refusals"] = box_checks.services_active(box.ssh)
        results["healthz_after_refusals"] = box.healthz()

        results["install_broken"] = install(box, broken, say)
        results["after_install_broken"] = running(box)
        before = box.boot_id()
        box.request_reboot()
        results["boots_after_broken"] = wait_for_version(box, good_version, before, ROLLBACK_TIMEOUT)
        say(f"[{box.since_start():6.1f}s] back on {good_version} after boots of {results['boots_after_broken']}")
        box.wait_for_http(BOOT_TIMEOUT)
        results["rolled_back"] = running(box)
        results["identity_rolled_back"] = box_checks.identity(box.ssh)
        results["services_rolled_back"] = box_checks.services_active(box.ssh)
        results["assessments"] = box.ssh("sudo journalctl -o cat -u studio-good-boot.service | grep studio-good-boot:",
                                         check=False).splitlines()
        say(f"[{box.since_start():6.1f}s] rolled back: {results['rolled_back']}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.update_test", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where `image.build` put the image")
    parser.add_argument("--arch", choices=["amd64", "arm64"], default="amd64")
    args = parser.parse_args(argv)
    record = load_record(args.out, args.arch)
    with tempfile.TemporaryDirectory(prefix="studio-update-", dir="/var/tmp") as workdir:
        results = run_scenario(record, Path(workdir))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
