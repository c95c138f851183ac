"""The update file: one version's root filesystem, kernel, initrd (and amd64's boot entry), signed, for `studio-update`.

`python -m image.update --version V [--arch A]` makes `studio-A_V.update.tar` from
the last build's rootfs (`image.build` makes one of its own version, too).
The tar holds the files systemd-sysupdate takes (image/sysupdate.py),
`studio-update.json` saying arch and version, a `SHA256SUMS` of all of them
and `SHA256SUMS.gpg`, its detached signature by the update signing key
(image/signing.py). On the box, `sudo studio-update FILE` checks signature
and sums against the keyring its image was built with, unpacks the file into
/data/update and has systemd-sysupdate write the other slot.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from image import DEFAULT_OUT, disk, signing, slots, sysupdate
from image.rootfs import FLAVOURS
from image.progress import Progress

OS_RELEASE = "usr/lib/os-release"
MANIFEST = "studio-update.json"
SUMS = "SHA256SUMS"
SIGNATURE = SUMS + signing.SIGNATURE_SUFFIX


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


def check_trusted(rootfs: Path, key: signing.SigningKey) -> None:
    """The root being packed must trust the key that signs it, or a box that installs it refuses the key's next update."""
    keyring = rootfs / signing.KEYRING
    if not keyring.is_file():
        raise ValueError(f"{keyring} is missing: this rootfs trusts no signing key; build the image again "
                         "(python -m image.build --reuse-rootfs)")
    trusted = signing.keyring_fingerprints(keyring.read_bytes())
    if key.fingerprint not in trusted:
        raise ValueError(f"the signing key {key.fingerprint} ({key.folder}) is not one this rootfs trusts "
                         f"({', '.join(trusted)}): boxes refuse its updates; sign with the key the image was "
                         "built with (--signing-key), or build with --also-trust to rotate keys")


def pack(stage: Path, arch: str, version: str, key: signing.SigningKey, target: Path) -> Path:
    """Make the update file `target` from the pieces in `stage` (sysupdate.source_names(arch, version)), then remove them.

    Adds `studio-update.json`, `SHA256SUMS` of every member and its signature
    `SHA256SUMS.gpg`, in that order, ahead of the pieces, so a box checks the
    signature before it reads the large ones.
    """
    pieces = sorted(sysupdate.source_names(arch, version).values())
    (stage / MANIFEST).write_text(json.dumps({"arch": arch, "version": version}))
    signed = [MANIFEST, *pieces]
    (stage / SUMS).write_text("".join(f"{sha256(stage / name)}  {name}\n" for name in signed))
    signing.sign(key, stage / SUMS)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w") as tar:
        for name in (MANIFEST, SUMS, SIGNATURE, *pieces):
            info = tar.gettarinfo(stage / name, arcname=name)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "root", "root"
            with (stage / name).open("rb") as fh:
                tar.addfile(info, fh)
    for name in (MANIFEST, SUMS, SIGNATURE, *pieces):
        (stage / name).unlink()
    return target


def make_update(arch: str, rootfs: Path, work: Path, out: Path, version: str, key: signing.SigningKey,
                say: Callable[[str], None], alter_root: Callable[[Path], None] | None = None,
                root_image: Path | None = None) -> Path:
    """Write `<out>/studio-<arch>_<version>.update.tar` from `rootfs` (stamped with `version`), signed with `key`;
    returns its path.

    `root_image` is the root filesystem already made of this rootfs and
    version (the image build's slot A), else one is made. `alter_root` gets
    the root filesystem image before it is packed (the rollback test makes a
    deliberately broken update with it).
    """
    check_trusted(rootfs, key)
    names = sysupdate.source_names(arch, version)
    stage = work / f"update-{version}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
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
    # What the image's boot partition holds for this version is what sysupdate puts on the box's.
    for path, content in disk.version_files(arch, rootfs, version).items():
        (stage / Path(path).name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    target = pack(stage, arch, version, key, out / file_name(arch, version))
    stage.rmdir()
    say(f"update {version}: {target} ({target.stat().st_size / slots.MIB:.0f} MiB), signed with {key.fingerprint}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.update", description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="the version to stamp, e.g. 0.1.0.20261201120000; "
                                                         "boxes install it only if it sorts after theirs")
    parser.add_argument("--arch", choices=sorted(FLAVOURS), default="amd64")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--signing-key", type=Path, metavar="FOLDER",
                        help=f"the update signing key's folder (default ${signing.ENVIRONMENT}, else "
                             f"{signing.DEFAULT_FOLDER}); it must be one the last build's rootfs trusts")
    args = parser.parse_args(argv)
    work = args.out.resolve() / f"work-{args.arch}"
    if not (work / "rootfs").is_dir():
        parser.error(f"{work / 'rootfs'}: no rootfs; build the image first (python -m image.build)")
    try:
        key = signing.load(signing.folder_for(args.signing_key))
        make_update(args.arch, work / "rootfs", work, args.out.resolve(), args.version, key, Progress())
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
