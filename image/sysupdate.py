"""systemd-sysupdate's transfer definitions for the box: an update file's pieces into the other slot and the ESP.

An update of version V is four files, unpacked by `studio-update` into
/data/update: the root filesystem (`studio_V.root.raw.gz`), kernel and
initrd, and the boot entry. systemd-sysupdate (trixie's systemd-container)
writes the root into the slot that is `_empty` or holds the older version
(never the running one: ProtectVersion=%A, the IMAGE_VERSION in
os-release), the kernel and initrd onto the ESP, and the entry last, as
`studio_V+3-0.conf`, so the new version is only bootable once all of it is
there, and only three times unless a boot of it is marked good.
"""

from __future__ import annotations

from pathlib import Path

from image import slots

UPDATE_DIR = "/data/update"
ESP = "/boot/efi"
DEFINITIONS = "usr/lib/sysupdate.d"


def patterns() -> dict[str, str]:
    """The file names in an update, by what they are, with sysupdate's `@v` for the version."""
    stem = slots.PREFIX + "@v"
    return {"root": f"{stem}.root.raw.gz", "kernel": f"{stem}.vmlinuz", "initrd": f"{stem}.initrd",
            "entry": f"{stem}.conf"}


def source_names(version: str) -> dict[str, str]:
    """The file names in an update of `version`."""
    slots.check_version(version)
    return {key: name.replace("@v", version) for key, name in patterns().items()}


def _transfer(source_pattern: str, target: str) -> str:
    # InstancesMax=2 everywhere: files on the ESP have no limit of their own, and
    # a kernel or entry kept for a version whose slot was overwritten would boot
    # into nothing.
    return (f"[Transfer]\nProtectVersion=%A\n\n[Source]\nType=regular-file\nPath={UPDATE_DIR}\n"
            f"MatchPattern={source_pattern}\n\n[Target]\n{target}InstancesMax=2\n")


def transfers(arch: str) -> dict[str, str]:
    """File name -> text of each /usr/lib/sysupdate.d/*.transfer; applied in name order, the entry last."""
    if arch != "amd64":
        raise ValueError(f"arch {arch!r}: A/B updates through systemd-sysupdate are built for amd64 only "
                         "(the Pi has no A/B yet; image/README.md, 'On the Raspberry Pi', says why and the way there)")
    names = patterns()
    header = "# Written by image/sysupdate.py at build time.\n"
    return {
        "10-root.transfer": header + _transfer(
            names["root"], f"Type=partition\nPath=auto\nMatchPattern={slots.PREFIX}@v\nMatchPartitionType=root\n"
                           "ReadOnly=1\n"),
        "20-kernel.transfer": header + _transfer(
            names["kernel"], f"Type=regular-file\nPath={ESP}\nMatchPattern={names['kernel']}\n"),
        "30-initrd.transfer": header + _transfer(
            names["initrd"], f"Type=regular-file\nPath={ESP}\nMatchPattern={names['initrd']}\n"),
        "90-entry.transfer": header + _transfer(
            names["entry"], f"Type=regular-file\nPath={ESP}/loader/entries\n"
                            f"MatchPattern={slots.PREFIX}@v+@l-@d.conf\nMatchPattern={slots.PREFIX}@v+@l.conf\n"
                            f"MatchPattern={slots.PREFIX}@v.conf\nTriesLeft={slots.TRIES}\nTriesDone=0\n"),
    }


def install(rootfs: Path, arch: str) -> None:
    """Write the transfer definitions into the rootfs (replacing any from an earlier build)."""
    folder = rootfs / DEFINITIONS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.transfer"):
        old.unlink()
    for name, text in transfers(arch).items():
        (folder / name).write_text(text)
