"""The raw disk image: boot (FAT), root (ext4) and data (ext4) partitions, made without mounting anything.

Each filesystem is made in a file of its own (`mkfs.ext4 -d`, `mkfs.vfat` and
`mcopy`), a partition table is written with sfdisk, and the filesystems are
copied to their offsets. amd64 gets GPT with an EFI system partition holding
systemd-boot; the Pi's firmware reads MBR partition 1, so arm64 gets MBR.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
SECTOR = 512
BOOT_MIB = 256
# Small on purpose: first boot grows it to the end of the card.
DATA_MIB = 256
ROOT_OPTIONS = "root=LABEL=studio-root rw"
# The serial console is what qemu (and a NUC with a serial header) shows.
KERNEL_OPTIONS = f"{ROOT_OPTIONS} console=tty0 console=ttyS0,115200"
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


@dataclass(frozen=True)
class Layout:
    """Partition sizes in MiB, from the first partition's start (1 MiB in) to the data partition."""

    boot_mib: int
    root_mib: int
    data_mib: int

    @property
    def total_mib(self) -> int:
        # 1 MiB before the first partition, 1 MiB after the last for GPT's backup header.
        return 1 + self.boot_mib + self.root_mib + self.data_mib + 1


def take_boot_files(arch: str, rootfs: Path, boot: Path) -> None:
    """Move what belongs on the boot partition out of the rootfs into `boot` (replaced).

    arm64: raspi-firmware's hooks filled /boot/firmware (firmware, DTBs, kernel,
    initrd, config.txt, cmdline.txt). amd64: systemd-boot as the removable-media
    loader, one entry, and the kernel and initrd it starts.
    """
    if boot.exists():
        shutil.rmtree(boot)
    boot.mkdir(parents=True)
    firmware = rootfs / "boot/firmware"
    for item in firmware.iterdir():
        shutil.move(str(item), boot / item.name)
    if arch == "amd64":
        (boot / "EFI/BOOT").mkdir(parents=True)
        shutil.copy2(rootfs / "usr/lib/systemd/boot/efi/systemd-bootx64.efi", boot / "EFI/BOOT/BOOTX64.EFI")
        (boot / "loader/entries").mkdir(parents=True)
        (boot / "loader/loader.conf").write_text("default studio.conf\ntimeout 0\n")
        (boot / "loader/entries/studio.conf").write_text(
            f"title Studio box\nlinux /vmlinuz\ninitrd /initrd.img\noptions {KERNEL_OPTIONS}\n")
        shutil.copy2(newest(rootfs / "boot", "vmlinuz-*"), boot / "vmlinuz")
        shutil.copy2(newest(rootfs / "boot", "initrd.img-*"), boot / "initrd.img")
    else:
        # Our cmdline wins over the one raspi-firmware generated, so both arches mount the same labels.
        (boot / "cmdline.txt").write_text(f"console=serial0,115200 console=tty1 {ROOT_OPTIONS} "
                                          "fsck.repair=yes rootwait\n")
    (boot / "studio-setup.toml.example").write_text(SETUP_EXAMPLE)


def newest(folder: Path, pattern: str) -> Path:
    return sorted(folder.glob(pattern))[-1]


def plan(rootfs: Path) -> Layout:
    """Root gets its content plus a quarter and 256 MiB for logs, apt and upgrades."""
    used = int(subprocess.run(["du", "-sxb", str(rootfs)], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    return Layout(BOOT_MIB, int(used * 1.25 / MIB) + 256, DATA_MIB)


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


def make_ext4(label: str, content: Path, image: Path, mib: int, root_owner: tuple[int, int] = (0, 0)) -> None:
    image.unlink(missing_ok=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", label, "-E", f"root_owner={root_owner[0]}:{root_owner[1]}",
                    "-d", str(content), str(image), f"{mib}M"], check=True)


def partition_table(arch: str, layout: Layout) -> str:
    """An sfdisk script: GPT with an ESP on amd64, MBR with a FAT32 LBA boot partition on arm64."""
    sectors = [(layout.boot_mib, "boot"), (layout.root_mib, "root"), (layout.data_mib, "data")]
    start, lines = MIB // SECTOR, []
    types = {"amd64": ("U", "L", "L"), "arm64": ("c", "83", "83")}[arch]
    for (mib, name), kind in zip(sectors, types):
        size = mib * MIB // SECTOR
        extra = f', name="{name}"' if arch == "amd64" else (", bootable" if name == "boot" else "")
        lines.append(f"start={start}, size={size}, type={kind}{extra}")
        start += size
    return "label: " + ("gpt" if arch == "amd64" else "dos") + "\nunit: sectors\n" + "\n".join(lines) + "\n"


def assemble(arch: str, rootfs: Path, boot: Path, work: Path, out: Path, say) -> Layout:
    """Write `out`: partition table plus the three filesystems at their offsets (sparse)."""
    layout = plan(rootfs)
    work.mkdir(parents=True, exist_ok=True)
    say(f"boot {layout.boot_mib} MiB (FAT32), root {layout.root_mib} MiB, data {layout.data_mib} MiB (ext4)")
    make_boot_fs(boot, work / "boot.vfat", layout.boot_mib)
    say("root filesystem (mkfs.ext4 -d)")
    make_ext4("studio-root", rootfs, work / "root.ext4", layout.root_mib)
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    make_ext4("studio-data", data, work / "data.ext4", layout.data_mib, root_owner=studio_ids(rootfs))
    out.unlink(missing_ok=True)
    with out.open("wb") as disk:
        disk.truncate(layout.total_mib * MIB)
    subprocess.run(["sfdisk", "--quiet", str(out)], input=partition_table(arch, layout), text=True, check=True)
    offset = 1
    for name, mib in (("boot.vfat", layout.boot_mib), ("root.ext4", layout.root_mib), ("data.ext4", layout.data_mib)):
        subprocess.run(["dd", f"if={work / name}", f"of={out}", "bs=4M", f"seek={offset * MIB}",
                        "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"], check=True)
        offset += mib
    return layout
