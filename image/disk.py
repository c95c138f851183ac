"""The raw disk image: boot, two root slots and data, made without mounting anything.

Each filesystem is made in a file of its own (`mkfs.ext4 -d`, `mkfs.vfat` and
`mcopy`), a GPT is written with sfdisk, and the filesystems are copied to
their offsets (image/slots.py has the layout). Slot A holds this build's
version, slot B is left empty for the first update. amd64's boot partition
is the EFI system partition with systemd-boot and one entry per version; the
Pi 4/5 firmware reads the FAT boot partition of a GPT disk too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from image import slots, state, uboot

MIB = slots.MIB
# The serial console is what qemu (and a NUC with a serial header) shows; the Pi's boot script sets its own.
CONSOLES = {"amd64": "console=tty0 console=ttyS0,115200"}
SETUP_EXAMPLE = """\
# Rename to studio-setup.toml (on this partition) before the first boot.
# It is read once and then deleted, since it holds secrets.
authorized_keys = ["ssh-ed25519 AAAA... you@laptop"]
# mcp_token = "at-least-16-characters"   # else one is made: `ssh studio@<box> studio token`
# hostname = "studio-kitchen"            # else studio-<machine id>
# [wifi]
# country = "DE"
# ssid = "my-network"
# psk = "secret"
"""


def version_files(arch: str, rootfs: Path, version: str) -> dict[str, bytes | Path]:
    """What one version puts on the boot partition, by path there: its kernel and initrd, on amd64 its boot entry.

    The same files go into the image's boot partition and into an update of
    that version (image/update.py): `studio_V.vmlinuz`, `studio_V.initrd`,
    and on amd64 `loader/entries/studio_V.conf`. The Pi's boot script finds
    a version's kernel and initrd by those names (image/uboot.py).
    """
    stem = slots.PREFIX + slots.check_version(version)
    files: dict[str, bytes | Path] = {f"{stem}.vmlinuz": newest(rootfs / "boot", "vmlinuz-*"),
                                      f"{stem}.initrd": newest(rootfs / "boot", "initrd.img-*")}
    if arch == "amd64":
        files[f"loader/entries/{slots.entry_name(version)}"] = slots.entry_text(version, CONSOLES[arch]).encode()
    return files


def take_firmware(rootfs: Path, firmware: Path) -> None:
    """Move what packages put in /boot/firmware out of the rootfs into `firmware` (replaced), once per rootfs.

    arm64: raspi-firmware's hooks filled it (firmware, DTBs, kernel, initrd,
    config.txt, cmdline.txt). amd64: it is empty (the ESP is made from ours).
    """
    if firmware.exists():
        shutil.rmtree(firmware)
    firmware.mkdir(parents=True)
    for item in (rootfs / "boot/firmware").iterdir():
        shutil.move(str(item), firmware / item.name)


def boot_files(arch: str, rootfs: Path, firmware: Path, boot: Path, version: str) -> None:
    """The boot partition's content in `boot` (replaced): the firmware, then the loader and this version's files.

    amd64: systemd-boot as the removable-media loader, set to boot the newest
    entry that has tries left. arm64: the Pi firmware and DTBs, with U-Boot
    as what the firmware starts, our boot script, and the try counter's
    state naming this version as the good one (image/uboot.py); not the
    kernel, initrd and cmdline.txt raspi-firmware put there, which U-Boot
    does not read.
    """
    if boot.exists():
        shutil.rmtree(boot)
    shutil.copytree(firmware, boot, symlinks=True)
    if arch == "amd64":
        (boot / "EFI/BOOT").mkdir(parents=True)
        shutil.copy2(rootfs / "usr/lib/systemd/boot/efi/systemd-bootx64.efi", boot / "EFI/BOOT/BOOTX64.EFI")
        # Entries sort newest version first and those out of tries last, so the
        # first studio_* entry is the newest version that has not failed.
        (boot / "loader").mkdir()
        (boot / "loader/loader.conf").write_text(f"default {slots.PREFIX}*\ntimeout 0\neditor no\n")
    else:
        for packaged in [*boot.glob("vmlinuz-*"), *boot.glob("initrd.img-*"), boot / "cmdline.txt"]:
            packaged.unlink(missing_ok=True)
        shutil.copy2(rootfs / uboot.PI_LOADER, boot / uboot.LOADER)
        (boot / "config.txt").write_text(uboot.config_txt((firmware / "config.txt").read_text()))
        uboot.compile_script(uboot.script_text(), boot / uboot.SCRIPT)
        (boot / uboot.STATE).write_text(uboot.state_text(version))
    for name, content in version_files(arch, rootfs, version).items():
        target = boot / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy2(content, target)
        else:
            target.write_bytes(content)
    (boot / "studio-setup.toml.example").write_text(SETUP_EXAMPLE)


def newest(folder: Path, pattern: str) -> Path:
    return sorted(folder.glob(pattern))[-1]


def root_mib(rootfs: Path) -> int:
    """The root filesystem: its content plus a quarter and 128 MiB (it is read-only, so that is room for ext4 itself)."""
    used = int(subprocess.run(["du", "-sxb", str(rootfs)], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    return int(used * 1.25 / MIB) + 128


def studio_ids(rootfs: Path) -> tuple[int, int]:
    """The studio user's uid and gid inside the image (not on the build host)."""
    for line in (rootfs / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "studio":
            return int(fields[2]), int(fields[3])
    raise RuntimeError(f"{rootfs}: no user studio; was provision.sh run?")


def make_boot_fs(boot: Path, image: Path, mib: int) -> None:
    image.unlink(missing_ok=True)
    subprocess.run(["mkfs.vfat", "-F", "32", "-n", "STUDIO-BOOT", "-C", str(image), str(mib * 1024)],
                   check=True, capture_output=True)
    entries = [str(p) for p in sorted(boot.iterdir())]
    subprocess.run(["mcopy", "-s", "-p", "-m", "-i", str(image), *entries, "::/"], check=True)


def make_ext4(label: str, content: Path, image: Path, mib: int) -> None:
    """An ext4 filesystem of `mib` MiB in the file `image`, holding `content` with its owners and modes."""
    image.unlink(missing_ok=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", label, "-d", str(content), str(image), f"{mib}M"], check=True)


def make_root_fs(rootfs: Path, image: Path, layout: slots.Layout) -> int:
    """The root filesystem image (for slot A, and for an update's slot); returns its size in MiB."""
    mib = root_mib(rootfs)
    layout.check_root_fits(mib)
    make_ext4("studio-root", rootfs, image, mib)
    return mib


def assemble(arch: str, rootfs: Path, boot: Path, work: Path, out: Path, version: str, say) -> slots.Layout:
    """Write `out`: the GPT and the filesystems at their offsets (sparse); slot B stays zeros."""
    layout = slots.Layout()
    work.mkdir(parents=True, exist_ok=True)
    make_boot_fs(boot, work / "boot.vfat", layout.boot_mib)
    mib = make_root_fs(rootfs, work / "root.ext4", layout)
    say(f"boot {layout.boot_mib} MiB (FAT32), slots A and B {layout.slot_mib} MiB each (A: {version}, root "
        f"{mib} MiB), data {layout.data_mib} MiB (ext4)")
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    state.populate(data, studio_ids(rootfs))
    make_ext4("studio-data", data, work / "data.ext4", layout.data_mib)
    out.unlink(missing_ok=True)
    with out.open("wb") as disk:
        disk.truncate(layout.total_mib * MIB)
    subprocess.run(["sfdisk", "--quiet", str(out)], input=slots.partition_table(arch, layout, version), text=True,
                   check=True)
    offsets = layout.offsets_mib()
    for name, key in (("boot.vfat", "boot"), ("root.ext4", "slot_a"), ("data.ext4", "data")):
        subprocess.run(["dd", f"if={work / name}", f"of={out}", "bs=4M", f"seek={offsets[key] * MIB}",
                        "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"], check=True)
    return layout
