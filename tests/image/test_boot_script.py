"""The Pi's boot script (image.uboot) run by a real U-Boot: qemu's virt board with Debian's qemu_arm64 build of it.

Each boot starts U-Boot on a small disk with the image's partition table
and a boot partition made as the build makes it, lets the script pick a
version, count down a trial's tries and write studio_boot.env back with
U-Boot's own FAT driver, and stops the machine once the script starts a
kernel (a stand-in with a valid arm64 Image header that only spins) or
gives up. The box's side of the state file (overlay-arm64's boot-trial)
reads what U-Boot wrote, and U-Boot reads what it writes.
"""

from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path

from image import disk, slots, uboot
from tests.image.overlay_scripts import boot_trial

UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
GOOD, TRIAL = "0.1.0.20261129100000", "0.1.0.20261129110000"
LAYOUT = slots.Layout(boot_mib=40, slot_mib=4, data_mib=4)
PARTITION = f"@@{LAYOUT.offsets_mib()['boot'] * slots.MIB}"
BOOT_WAIT_S = 120


def stand_in_kernel() -> bytes:
    """A valid arm64 Image header (booti checks it) whose first instruction branches to itself."""
    size = 4096
    header = struct.pack("<IIQQQQQQII", 0x14000000, 0, 0, size, 0b1010, 0, 0, 0, 0x644D5241, 0)
    return header.ljust(size, b"\0")


def make_disk(folder: Path, state: str | None, versions: tuple[str, ...]) -> Path:
    """A disk with the image's partition table; its boot partition holds boot.scr, the state and each version's
    kernel and initrd."""
    boot = folder / "boot"
    boot.mkdir()
    uboot.compile_script(uboot.script_text(), boot / uboot.SCRIPT)
    if state is not None:
        (boot / uboot.STATE).write_text(state)
    for version in versions:
        (boot / f"studio_{version}.vmlinuz").write_bytes(stand_in_kernel())
        (boot / f"studio_{version}.initrd").write_bytes(f"initrd of {version}".encode())
    disk.make_boot_fs(boot, folder / "boot.vfat", LAYOUT.boot_mib)
    image = folder / "disk.raw"
    with image.open("wb") as fh:
        fh.truncate(LAYOUT.total_mib * slots.MIB)
    subprocess.run(["sfdisk", "--quiet", str(image)], input=slots.partition_table("arm64", LAYOUT, GOOD), text=True,
                   check=True)
    subprocess.run(["dd", f"if={folder / 'boot.vfat'}", f"of={image}", "bs=1M", f"seek={LAYOUT.offsets_mib()['boot']}",
                    "conv=notrunc", "status=none"], check=True)
    return image


def power_on(image: Path) -> list[str]:
    """Boot once; the script's `studio:` lines, then `STARTED` if it started a kernel."""
    qemu = subprocess.Popen(["qemu-system-aarch64", "-M", "virt", "-cpu", "max", "-m", "1024", "-nographic",
                             "-bios", str(UBOOT), "-drive", f"file={image},format=raw,if=virtio", "-nic", "none",
                             "-monitor", "none", "-serial", "stdio"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen: list[str] = []
    deadline = time.monotonic() + BOOT_WAIT_S
    try:
        for raw in qemu.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("studio:"):
                seen.append(line)
            if "Starting kernel" in line:
                return seen + ["STARTED"]
            # U-Boot goes on to other boot devices once the script returns.
            if "cannot boot" in line or "No more bootdevs" in line or time.monotonic() > deadline:
                return seen
    finally:
        qemu.kill()
        qemu.wait()
    return seen


def state_on(image: Path) -> str:
    return subprocess.run(["mtype", "-i", f"{image}{PARTITION}", f"::/{uboot.STATE}"], capture_output=True,
                          text=True, check=True).stdout


def booted(lines: list[str]) -> str | None:
    """The version whose kernel the script started, from its last command line before STARTED."""
    if lines[-1:] != ["STARTED"]:
        return None
    command_line = [line for line in lines if "kernel command line" in line][-1]
    return command_line.split("root=PARTLABEL=studio_")[1].split()[0]


def test_the_good_version_boots_from_its_slot_and_the_state_is_left_alone(tmp_path):
    state = uboot.state_text(GOOD)
    image = make_disk(tmp_path, state, (GOOD,))
    lines = power_on(image)
    assert booted(lines) == GOOD, lines
    command_line = [line for line in lines if "kernel command line" in line][0]
    assert f"root=PARTLABEL=studio_{GOOD} ro" in command_line and "console=ttyAMA0,115200" in command_line
    assert f"studio: booting {GOOD} (good {GOOD}, nothing on trial)" in lines
    assert state_on(image) == state


def test_a_trial_boots_three_times_counting_down_then_the_good_version_comes_back(tmp_path):
    image = make_disk(tmp_path, uboot.state_text(GOOD, TRIAL, 3), (GOOD, TRIAL))
    seen = []
    for _ in range(4):
        seen.append((booted(power_on(image)), boot_trial.parse_state(state_on(image))["studio_tries"]))
    assert seen == [(TRIAL, "2"), (TRIAL, "1"), (TRIAL, "0"), (GOOD, "0")]
    assert boot_trial.parse_state(state_on(image)) == {"studio_good": GOOD, "studio_trial": TRIAL, "studio_tries": "0"}


def test_a_trial_whose_kernel_is_missing_falls_back_to_the_good_version_in_the_same_boot(tmp_path):
    image = make_disk(tmp_path, uboot.state_text(GOOD, TRIAL, 3), (GOOD,))
    lines = power_on(image)
    assert f"studio: booting {TRIAL} (good {GOOD}, trial {TRIAL} has 2 tries left)" in lines
    assert f"studio: {TRIAL} did not boot" in lines
    assert booted(lines) == GOOD
    assert boot_trial.parse_state(state_on(image))["studio_tries"] == "2"


def test_without_a_good_version_the_script_says_so_and_starts_nothing(tmp_path):
    image = make_disk(tmp_path, None, (GOOD,))
    lines = power_on(image)
    assert lines == [f"studio: {uboot.STATE} names no studio_good version; cannot boot"]


def test_the_box_and_u_boot_read_each_others_state(tmp_path):
    """boot-trial arms a trial in the file; U-Boot counts it down (ending its file with a NUL); boot-trial reads that
    back and blesses the trial on its boot."""
    image = make_disk(tmp_path, uboot.state_text(GOOD), (GOOD, TRIAL))
    box = tmp_path / "box-boot"
    box.mkdir()
    subprocess.run(["mcopy", "-i", f"{image}{PARTITION}", f"::/{uboot.STATE}", str(box)], check=True)
    boot_trial.arm(box, GOOD, TRIAL)
    subprocess.run(["mcopy", "-o", "-i", f"{image}{PARTITION}", str(box / uboot.STATE), "::/"], check=True)
    assert booted(power_on(image)) == TRIAL
    (box / uboot.STATE).write_text(state_on(image))
    assert "\0" in (box / uboot.STATE).read_text()
    state = boot_trial.read_state(box)
    assert boot_trial.status_line(state, TRIAL) == f"verdict=trial booted={TRIAL} good={GOOD} trial={TRIAL} tries=2"
    boot_trial.bless(box, TRIAL)
    subprocess.run(["mcopy", "-o", "-i", f"{image}{PARTITION}", str(box / uboot.STATE), "::/"], check=True)
    assert booted(power_on(image)) == TRIAL
    assert boot_trial.parse_state(state_on(image)) == {"studio_good": TRIAL}
