"""systemd-sysupdate's transfer definitions for the box: an update file's pieces into the other slot and onto boot.

An update of version V is unpacked by `studio-update` into /data/update: the
root filesystem (`studio_V.root.raw.gz`), kernel and initrd, and on amd64
the boot entry. systemd-sysupdate (trixie's systemd-container) writes the
root into the slot that is `_empty` or holds the older version (never the
running one: ProtectVersion=%A, the IMAGE_VERSION in os-release) and the
kernel and initrd onto the boot partition.

amd64: the entry goes onto the ESP last, as `studio_V+3-0.conf`, so the new
version is only bootable once all of it is there, and only three times
unless a boot of it is marked good. arm64: there is no entry; studio-update
arms the trial in U-Boot's state file once sysupdate is done (image/uboot.py).
"""

from __future__ import annotations

from pathlib import Path

from image import slots
from image.state import BOOT_MOUNTS

UPDATE_DIR = "/data/update"
DEFINITIONS = "usr/lib/sysupdate.d"


def patterns(arch: str) -> dict[str, str]:
    """The file names in an update, by what they are, with sysupdate's `@v` for the version."""
    if arch not in BOOT_MOUNTS:
        raise ValueError(f"arch {arch!r}: allowed {', '.join(sorted(BOOT_MOUNTS))}")
    stem = slots.PREFIX + "@v"
    names = {"root": f"{stem}.root.raw.gz", "kernel": f"{stem}.vmlinuz", "initrd": f"{stem}.initrd"}
    return names | {"entry": f"{stem}.conf"} if arch == "amd64" else names


def source_names(arch: str, version: str) -> dict[str, str]:
    """The file names in an update of `version` for `arch`."""
    slots.check_version(version)
    return {key: name.replace("@v", version) for key, name in patterns(arch).items()}


def _transfer(source_pattern: str, target: str) -> str:
    # InstancesMax=2 everywhere: files on the boot partition have no limit of their
    # own, and a kernel or entry kept for a version whose slot was overwritten
    # would boot into nothing.
    return (f"[Transfer]\nProtectVersion=%A\n\n[Source]\nType=regular-file\nPath={UPDATE_DIR}\n"
            f"MatchPattern={source_pattern}\n\n[Target]\n{target}InstancesMax=2\n")


def transfers(arch: str) -> dict[str, str]:
    """File name -> text of each /usr/lib/sysupdate.d/*.transfer; applied in name order, amd64's entry last."""
    names = patterns(arch)
    boot = BOOT_MOUNTS[arch]
    header = "# Written by image/sysupdate.py at build time.\n"
    definitions = {
        "10-root.transfer": header + _transfer(
            names["root"], f"Type=partition\nPath=auto\nMatchPattern={slots.PREFIX}@v\nMatchPartitionType=root\n"
                           "ReadOnly=1\n"),
        "20-kernel.transfer": header + _transfer(
            names["kernel"], f"Type=regular-file\nPath={boot}\nMatchPattern={names['kernel']}\n"),
        "30-initrd.transfer": header + _transfer(
            names["initrd"], f"Type=regular-file\nPath={boot}\nMatchPattern={names['initrd']}\n"),
    }
    if arch == "amd64":
        definitions["90-entry.transfer"] = header + _transfer(
            names["entry"], f"Type=regular-file\nPath={boot}/loader/entries\n"
                            f"MatchPattern={slots.PREFIX}@v+@l-@d.conf\nMatchPattern={slots.PREFIX}@v+@l.conf\n"
                            f"MatchPattern={slots.PREFIX}@v.conf\nTriesLeft={slots.TRIES}\nTriesDone=0\n")
    return definitions


def install(rootfs: Path, arch: str) -> None:
    """Write the transfer definitions into the rootfs (replacing any from an earlier build)."""
    folder = rootfs / DEFINITIONS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.transfer"):
        old.unlink()
    for name, text in transfers(arch).items():
        (folder / name).write_text(text)
