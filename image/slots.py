"""A/B root slots: the fixed partition layout, how a slot and its boot entry are named by version.

Two root partitions of one size that never changes, so any later update fits
any box flashed earlier. The slot holding version V has the GPT partition
label `studio_V` and the other, until an update fills it, `_empty`: the
naming systemd-sysupdate uses to find a free slot and to tell versions apart
(`image/sysupdate.py`). The kernel is told its root by that label
(`root=PARTLABEL=studio_V`), so a boot entry names one slot and nothing else
needs to know whether it is A or B.

On amd64 each version has a systemd-boot entry on the ESP,
`loader/entries/studio_V.conf`; an update installs it as `studio_V+3-0.conf`
(three tries), systemd-boot counts each boot of it down, and
systemd-bless-boot drops the counter once the boot is marked good. An entry
with no tries left is sorted last, so the previous version boots again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

PREFIX = "studio_"
EMPTY = "_empty"
TRIES = 3
# GPT partition labels hold at most 36 UTF-16 characters.
LABEL_MAX = 36
VERSION = re.compile(r"^[0-9][0-9A-Za-z._-]*$")
# Discoverable Partitions Specification: the root partition type of each arch.
ROOT_TYPES = {"amd64": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "arm64": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"}
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_DATA_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
MIB = 1 << 20
SECTOR = 512


def check_version(version: str) -> str:
    """A version usable in a partition label, a file name and sysupdate's comparisons; else ValueError saying why."""
    if not VERSION.match(version):
        raise ValueError(f"version {version!r}: must start with a digit and hold only letters, digits and . _ -")
    if len(PREFIX + version) > LABEL_MAX:
        raise ValueError(f"version {version!r}: {len(version)} characters, at most {LABEL_MAX - len(PREFIX)} "
                         f"(the GPT label {PREFIX}<version> holds {LABEL_MAX})")
    return version


def build_version(project_version: str, when: datetime) -> str:
    """`<project version>.<UTC build time>`: later builds of one release sort after earlier ones."""
    return check_version(f"{project_version}.{when.astimezone(timezone.utc):%Y%m%d%H%M%S}")


def slot_label(version: str) -> str:
    return PREFIX + check_version(version)


def entry_name(version: str, tries_left: int | None = None) -> str:
    """The loader entry's file name; with `tries_left`, the boot-counting form systemd-boot counts down."""
    counter = "" if tries_left is None else f"+{tries_left}-0"
    return f"{PREFIX}{check_version(version)}{counter}.conf"


def kernel_options(version: str, console: str) -> str:
    """Root by slot label, read-only; fsck repairs what it can; a panic reboots (so a boot counter runs down)."""
    return kernel_options_for_label(slot_label(version), console)


def kernel_options_for_label(label: str, console: str) -> str:
    """kernel_options for a label given as is: the Pi's boot script fills the version in itself (image/uboot.py)."""
    return f"root=PARTLABEL={label} ro fsck.repair=yes panic=10 {console}"


def entry_text(version: str, console: str) -> str:
    """A Boot Loader Specification type #1 entry for one version's kernel, initrd and slot."""
    return (f"title Studio box {version}\nversion {version}\nlinux /{PREFIX}{version}.vmlinuz\n"
            f"initrd /{PREFIX}{version}.initrd\noptions {kernel_options(version, console)}\n")


@dataclass(frozen=True)
class Layout:
    """Partition sizes in MiB: the boot partition, each of two root slots, and the data partition as flashed."""

    boot_mib: int = 512
    slot_mib: int = 2048
    data_mib: int = 256

    @property
    def total_mib(self) -> int:
        # 1 MiB before the first partition, 1 MiB after the last for GPT's backup header.
        return 1 + self.boot_mib + 2 * self.slot_mib + self.data_mib + 1

    def offsets_mib(self) -> dict[str, int]:
        """Where each partition starts, in MiB from the start of the disk."""
        boot = 1
        slot_a = boot + self.boot_mib
        slot_b = slot_a + self.slot_mib
        return {"boot": boot, "slot_a": slot_a, "slot_b": slot_b, "data": slot_b + self.slot_mib}

    def check_root_fits(self, root_mib: int) -> None:
        if root_mib > self.slot_mib:
            raise ValueError(f"the root filesystem needs {root_mib} MiB but a slot holds {self.slot_mib} MiB; "
                             "every box ever flashed has slots of that size, so the root must shrink")


def partition_table(arch: str, layout: Layout, version: str) -> str:
    """An sfdisk script: slot A holds `version`, slot B is empty, data last (first boot grows it).

    amd64: GPT, partition 1 the EFI system partition. arm64: GPT too, with
    the boot partition typed as basic data, which the Pi 4/5 EEPROM
    bootloader reads.
    """
    if arch not in ROOT_TYPES:
        raise ValueError(f"arch {arch!r}: allowed {', '.join(sorted(ROOT_TYPES))}")
    boot_type = ESP_TYPE if arch == "amd64" else "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
    offsets = layout.offsets_mib()
    rows = [("boot", layout.boot_mib, boot_type, "STUDIO-BOOT"),
            ("slot_a", layout.slot_mib, ROOT_TYPES[arch], slot_label(version)),
            ("slot_b", layout.slot_mib, ROOT_TYPES[arch], EMPTY),
            ("data", layout.data_mib, LINUX_DATA_TYPE, "studio-data")]
    lines = [f"start={offsets[key] * MIB // SECTOR}, size={mib * MIB // SECTOR}, type={kind}, name=\"{name}\""
             for key, mib, kind, name in rows]
    return "label: gpt\nunit: sectors\n" + "\n".join(lines) + "\n"
