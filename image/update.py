"""The update file: one version's root filesystem, kernel, initrd and boot entry, for `studio-update` on a box.

`python -m image.update --version V` makes `studio-amd64_V.update.tar` from
the last build's rootfs (`image.build` makes one of its own version, too).
The tar holds the files systemd-sysupdate takes (image/sysupdate.py), a
`SHA256SUMS` of them, and `studio-update.json` saying arch and version; on
the box, `sudo studio-update FILE` checks it, unpacks it into /data/update
and has systemd-sysupdate write the other slot.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from image import DEFAULT_OUT, disk, slots, sysupdate
from image.progress import Progress

OS_RELEASE = "usr/lib/os-release"
MANIFEST = "studio-update.json"


def file_name(arch: str, version: str) -> str:
    return f"studio-{arch}_{slots.check_version(version)}.update.tar"


def stamp_version(rootfs: Path, version: str) -> None:
    """IMAGE_ID and IMAGE_VERSION in os-release: what sysupdate's %A (the running version, never overwritten) reads."""
    path = rootfs / OS_RELEASE
    kept = [line for line in path.read_text().splitlines() if not line.startswith(("IMAGE_ID=", "IMAGE_VERSION="))]
    path.write_text("\n".join([*kept, "IMAGE_ID=studio", f"IMAGE_VERSION={slots.check_version(version)}"]) + "\n")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def make_update(arch: str, rootfs: Path, work: Path, out: Path, version: str, say: Callable[[str], None],
                alter_root: Callable[[Path], None] | None = None, root_image: Path | None = None) -> Path:
    """Write `<out>/studio-<arch>_<version>.update.tar` from `rootfs` (stamped with `version`); returns its path.

    `root_image` is the root filesystem already made of this rootfs and
    version (the image build's slot A), else one is made. `alter_root` gets
    the root filesystem image before it is packed (the rollback test makes a
    deliberately broken update with it).
    """
    names = sysupdate.source_names(version)
    stage = work / f"update-{version}"
    stage.mkdir(parents=True, exist_ok=True)
    stamp_version(rootfs, version)
    root = root_image or stage / "root.ext4"
    if root_image is None:
        disk.make_root_fs(rootfs, root, slots.Layout())
    if alter_root is not None:
        alter_root(root)
    say(f"update {version}: root filesystem {root.stat().st_size / slots.MIB:.0f} MiB, compressing")
    with (stage / names["root"]).open("wb") as packed:
        subprocess.run(["gzip", "-1", "--stdout", str(root)], stdout=packed, check=True)
    if root_image is None:
        root.unlink()
    boot = disk.version_files(arch, rootfs, version)
    pieces = {names["kernel"]: boot[names["kernel"]], names["initrd"]: boot[names["initrd"]],
              names["entry"]: boot[f"loader/entries/{slots.entry_name(version)}"]}
    for name, content in pieces.items():
        (stage / name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    sums = "".join(f"{sha256(stage / name)}  {name}\n" for name in sorted(names.values()))
    manifest = json.dumps({"arch": arch, "version": version}).encode()
    out.mkdir(parents=True, exist_ok=True)
    target = out / file_name(arch, version)
    with tarfile.open(target, "w") as tar:
        for data, name in ((manifest, MANIFEST), (sums.encode(), "SHA256SUMS")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name in sorted(names.values()):
            tar.add(stage / name, arcname=name)
            (stage / name).unlink()
    stage.rmdir()
    say(f"update {version}: {target} ({target.stat().st_size / slots.MIB:.0f} MiB)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.update", description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="the version to stamp, e.g. 0.1.0.20261201120000; "
                                                         "boxes install it only if it sorts after theirs")
    parser.add_argument("--arch", choices=["amd64"], default="amd64")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    work = args.out.resolve() / f"work-{args.arch}"
    if not (work / "rootfs").is_dir():
        parser.error(f"{work / 'rootfs'}: no rootfs; build the image first (python -m image.build)")
    try:
        make_update(args.arch, work / "rootfs", work, args.out.resolve(), args.version, Progress())
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
