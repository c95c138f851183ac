"""The image booted under qemu, reachable from the host like a box on the LAN.

Each box runs on a sparse copy of the image made a little larger, so its
first boot is a real first boot (host keys, token, data partition grown)
and the built image stays pristine. studio-setup.toml goes onto the copy's
boot partition with mtools, exactly as an owner would put it on a freshly
flashed card. The amd64 machine boots as a NUC does: UEFI firmware (OVMF,
with its own variable store per box), systemd-boot from the ESP, the newest
entry; the arm64 one through U-Boot and the Pi's boot script (see
`BootedBox.machine`). A reboot in the guest resets the machine and it boots
again, so boot counting and rollback run for real. User networking
forwards the MCP and SSH ports to 127.0.0.1; the monitor socket hot-plugs
USB devices. KVM is used when it really runs a guest, else TCG.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx2

from image import slots
from image.guest_clock import ConsoleClock

QEMU = "qemu-system-x86_64"
QEMU_ARM64 = "qemu-system-aarch64"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
GROW_BYTES = 1 << 30
BOOT_PARTITION_OFFSET = 1 << 20
SSH_USER = "studio"
_accel_cache: list[str] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:.0f} s: {what}")
        time.sleep(every)


def accelerator(kernel: Path, workdir: Path) -> list[str]:
    """`-accel kvm -cpu host` if KVM boots a kernel to its first console line within 20 s, else TCG.

    Opening /dev/kvm can succeed on hosts where running a guest then fails
    ("internal error") and leaves qemu paused, so only a real boot proves it.
    """
    if _accel_cache:
        return _accel_cache
    tcg = ["-accel", "tcg", "-cpu", "max"]
    if os.environ.get("STUDIO_VM_ACCEL") == "tcg" or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        _accel_cache.extend(tcg)
        return tcg
    console = workdir / "kvm-probe.log"
    probe = subprocess.Popen([QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-display", "none",
                              "-no-reboot", "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1",
                              "-serial", f"file:{console}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: console.exists() and b"Linux version" in console.read_bytes() or probe.poll() is not None,
                   20, "KVM probe")
        works = probe.poll() is None and b"Linux version" in console.read_bytes()
    except TimeoutError:
        works = False
    finally:
        probe.kill()
        probe.wait()
    _accel_cache.extend(["-accel", "kvm", "-cpu", "host"] if works else tcg)
    return _accel_cache


class BootedBox:
    """One qemu run of the image: start it, talk to it (HTTP, SSH, monitor), stop it."""

    def __init__(self, record: dict, workdir: Path, setup_toml: str, ssh_key: Path | None = None,
                 extra_cmdline: str = "", memory_mib: int = 1536, grow_bytes: int = GROW_BYTES) -> None:
        self.record = record
        self.workdir = workdir
        self.setup_toml = setup_toml
        self.ssh_key = ssh_key
        self.extra_cmdline = extra_cmdline
        self.memory_mib = memory_mib
        self.grow_bytes = grow_bytes
        self.mcp_port = free_port()
        self.ssh_port = free_port()
        self.console = workdir / "console.log"
        self.monitor_path = workdir / "monitor.sock"
        self.pidfile = workdir / "qemu.pid"
        self.process: subprocess.Popen | None = None
        self.clock = ConsoleClock(self.console, self.since_start)
        self.disk = workdir / "disk.raw"
        self.started_at = 0.0
        self.accel: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}"

    def boot_partition(self) -> str:
        """The copy's boot partition as an mtools image spec."""
        return f"{self.disk}@@{BOOT_PARTITION_OFFSET}"

    def read_boot_file(self, name: str) -> str:
        return subprocess.run(["mtype", "-i", self.boot_partition(), f"::/{name}"], capture_output=True, text=True,
                              check=True).stdout

    def write_boot_file(self, name: str, text: str) -> None:
        local = self.workdir / Path(name).name
        local.write_text(text)
        subprocess.run(["mcopy", "-o", "-i", self.boot_partition(), str(local), f"::/{name}"], check=True)

    def prepare_disk(self) -> Path:
        """A sparse copy of the image, `grow_bytes` larger (first boot grows data), with studio-setup.toml on boot.

        `extra_cmdline` goes onto the options line of the amd64 image's boot
        entry, as someone editing the entry on the card would put it (the
        Pi's boot script takes none).
        """
        disk = self.disk
        subprocess.run(["cp", "--sparse=always", self.record["image"], str(disk)], check=True)
        with disk.open("r+b") as fh:
            fh.truncate(os.path.getsize(disk) + self.grow_bytes)
        # The partition table was made for the smaller disk; sfdisk moves GPT's backup header to the new end.
        subprocess.run(["sfdisk", "--quiet", "--relocate", "gpt-bak-std", str(disk)], check=True, capture_output=True)
        self.write_boot_file("studio-setup.toml", self.setup_toml)
        if self.extra_cmdline and self.record["arch"] != "amd64":
            raise ValueError("extra_cmdline: only the amd64 image's boot entry takes kernel options")
        if self.extra_cmdline:
            entry = f"loader/entries/{slots.entry_name(self.record['version'])}"
            self.write_boot_file(entry, re.sub(r"(?m)^options (.*)$", rf"options \1 {self.extra_cmdline}",
                                               self.read_boot_file(entry)))
        return disk

    def machine(self) -> list[str]:
        """qemu, its accelerator and how it boots: a NUC through OVMF; a Pi's image on `-M virt` through U-Boot.

        qemu has no machine that runs the Pi 4/5 EEPROM bootloader, so the
        virt board starts the qemu build of the Pi's U-Boot release as its
        firmware (image.build copied it out of the rootfs), and U-Boot runs
        the image's own boot script off its boot partition: the same slot
        choice, try counting, root, initramfs and services, another board.
        """
        if self.record["arch"] == "amd64":
            self.accel = accelerator(Path(self.record["kernel"]), self.workdir)
            # Each box has its own UEFI variable store, as each NUC has its own flash.
            shutil.copyfile(OVMF_VARS, self.workdir / "OVMF_VARS.fd")
            return [QEMU, *self.accel,
                    "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={self.workdir / 'OVMF_VARS.fd'}"]
        self.accel = ["-accel", "tcg", "-cpu", "max"]
        return [QEMU_ARM64, "-M", "virt", *self.accel, "-bios", self.record["firmware"]]

    def start(self) -> None:
        """Power on a fresh copy of the image."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in (self.console, self.monitor_path, self.pidfile):
            stale.unlink(missing_ok=True)
        disk = self.prepare_disk()
        forwards = f"hostfwd=tcp:127.0.0.1:{self.mcp_port}-:8080,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        # i6300esb stands in for the NUC's iTCO and the Pi's bcm2835-wdt (PCI, so on both boards); systemd's
        # RuntimeWatchdogSec pings it, and its default action resets the machine.
        argv = ["nice", "-n", "10", *self.machine(), "-m", str(self.memory_mib), "-smp", "2", "-display", "none",
                "-device", "i6300esb",
                "-drive", f"file={disk},format=raw,if=virtio,discard=unmap",
                "-netdev", f"user,id=net0,{forwards}", "-device", "virtio-net-pci,netdev=net0",
                "-device", "virtio-rng-pci", "-device", "qemu-xhci,id=xhci", "-audiodev", "none,id=snd0",
                "-serial", f"file:{self.console}", "-monitor", f"unix:{self.monitor_path},server,nowait",
                "-pidfile", str(self.pidfile)]
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(self.workdir / "qemu.err", "wb"))
        self.clock.start()

    def boot_id(self) -> str:
        return self.ssh("cat /proc/sys/kernel/random/boot_id", timeout=30).strip()

    def wait_for_boot_after(self, old_boot_id: str, timeout: float) -> str:
        """Wait until SSH answers from a boot other than `old_boot_id`; returns the new boot ID."""
        def new_boot() -> str:
            self.check_alive()
            try:
                answer = self.ssh("cat /proc/sys/kernel/random/boot_id", timeout=30, check=False).strip()
            except subprocess.TimeoutExpired:
                return ""
            return answer if answer and answer != old_boot_id else ""
        return wait_until(new_boot, timeout, f"no boot after {old_boot_id}\n{self.console_tail()}", every=3)

    def request_reboot(self) -> None:
        try:
            self.ssh("sudo systemctl reboot", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass  # The guest may drop the connection before ssh sees an exit status.

    def reboot(self, timeout: float = 420) -> str:
        """`systemctl reboot` in the guest (the machine resets and boots again); returns the new boot ID."""
        old = self.boot_id()
        self.request_reboot()
        return self.wait_for_boot_after(old, timeout)

    def stop(self) -> None:
        """Kill qemu by its pidfile (a paused qemu ignores everything else), then reap our child."""
        if self.pidfile.exists():
            try:
                os.kill(int(self.pidfile.read_text().strip()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
            self.clock.stop()

    def __enter__(self) -> BootedBox:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def since_start(self) -> float:
        return time.monotonic() - self.started_at

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"qemu exited {self.process.returncode}: "
                               f"{(self.workdir / 'qemu.err').read_text()[-2000:]}\n{self.console_tail()}")

    def console_tail(self, lines: int = 40) -> str:
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def healthz(self) -> dict | None:
        """hootenanny's /healthz answer; slirp accepts connections before the guest listens, so only a body counts."""
        try:
            response = httpx2.get(f"{self.base_url}/healthz", timeout=3)
            return response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, json.JSONDecodeError, ValueError):
            return None

    def wait_for_http(self, timeout: float) -> float:
        """Seconds from qemu's start to hootenanny answering over the forwarded port."""
        def answered() -> dict | None:
            self.check_alive()
            return self.healthz()
        wait_until(answered, timeout, f"no /healthz answer\n{self.console_tail()}")
        return self.since_start()

    def ssh_options(self) -> list[str]:
        assert self.ssh_key is not None, "no SSH key was given for this boot"
        return ["-i", str(self.ssh_key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]

    def copy_in(self, local: Path, remote: str, timeout: float = 1800) -> None:
        """scp a file onto the box as studio."""
        subprocess.run(["scp", "-q", *self.ssh_options(), "-P", str(self.ssh_port), str(local),
                        f"{SSH_USER}@127.0.0.1:{remote}"], check=True, timeout=timeout)

    def ssh(self, command: str, input: bytes | None = None, timeout: float = 120, check: bool = True) -> str:
        """Run `command` as studio over the forwarded SSH port with the key given in studio-setup.toml."""
        argv = ["ssh", *self.ssh_options(), "-p", str(self.ssh_port), f"{SSH_USER}@127.0.0.1", command]
        done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"ssh {command!r}: exit {done.returncode}: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    def active_since_start(self, unit: str, timeout: float) -> float:
        """Seconds from qemu's start to `unit` becoming active, from systemd's own timestamp (waited for over SSH)."""
        return self.clock.host_seconds(self.active_enter_us(unit, timeout))

    def active_enter_us(self, unit: str, timeout: float) -> int:
        """Microseconds from this boot's kernel start to `unit` becoming active, as systemd recorded it."""
        def entered() -> int:
            self.check_alive()
            value = self.ssh(f"systemctl show -P ActiveEnterTimestampMonotonic {unit}", timeout=30).strip()
            return int(value) if value.isdigit() else 0
        return wait_until(entered, timeout, f"{unit} never became active", every=2)

    def wait_for_ssh(self, timeout: float) -> None:
        def answers() -> bool:
            self.check_alive()
            try:
                return self.ssh("echo ok", timeout=30, check=False).strip() == "ok"
            except subprocess.TimeoutExpired:
                return False
        wait_until(answers, timeout, f"SSH never answered\n{self.console_tail()}", every=2)

    def monitor(self, command: str) -> str:
        """One human-monitor command over the unix socket; returns qemu's answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(self.monitor_path))
            reply = b""
            while not reply.endswith(b"(qemu) "):
                reply += sock.recv(4096)
            sock.sendall(command.encode() + b"\n")
            reply = b""
            while not reply.endswith(b"(qemu) "):
                reply += sock.recv(4096)
        # The monitor echoes the command with terminal escapes; the answer is what follows it.
        return re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", reply).decode(errors="replace").split("\n", 1)[-1]


def ssh_keypair(workdir: Path) -> tuple[Path, str]:
    """A throwaway ed25519 key for the test user; returns the private key path and the public key line."""
    key = workdir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "studio-vm-test", "-f", str(key)],
                       check=True)
    return key, key.with_suffix(".pub").read_text().strip()

