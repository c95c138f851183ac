"""`python -m image.build --arch amd64|arm64 --out image/out`: one command, one flashable raw disk image.

Steps, each announced with its time: the project wheel, the rootfs
(mmdebstrap, minutes: its own progress shows), the update signing key's
public half into the rootfs (the key is made on first use, image/signing.py),
the boot files, the disk, and the update file of the same version, signed
with that key. The result is
`<out>/studio-<arch>.img`, `<out>/studio-<arch>_<version>.update.tar` and a
JSON record of version, sizes and build time (plus, for the qemu boot test,
the amd64 kernel for its KVM probe or the arm64 U-Boot it starts).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from appliance import __version__
from image import DEFAULT_OUT, disk, rootfs, signing, slots, state, sysupdate, uboot, update
from image.foreign_arch import enable_emulation
from image.progress import Progress


def build(arch: str, out: Path, reuse_rootfs: bool = False, version: str | None = None,
          signing_key: Path | None = None, also_trust: list[Path] | None = None) -> dict:
    """Build `studio-<arch>.img` and its update file in `out`; return (and store as studio-<arch>.json) what was made.

    The image trusts updates signed by the key in `signing_key` (default
    image.signing.folder_for; made there if there is none) and by the public
    keys in `also_trust`; its own update file is signed by the former.
    """
    say = Progress()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    version = slots.check_version(version) if version else slots.build_version(__version__, datetime.now(timezone.utc))
    # Before the rootfs, so a bad --also-trust fails in seconds, not after minutes of mmdebstrap.
    key = signing.load_or_create(signing.folder_for(signing_key), say)
    keyring = signing.keyring(key, also_trust or [])
    work = out / f"work-{arch}"
    tree, firmware = work / "rootfs", work / "firmware"
    reused = reuse_rootfs and tree.is_dir() and firmware.is_dir()
    previous = out / f"studio-{arch}.json"
    rootfs_seconds = json.loads(previous.read_text()).get("rootfs_seconds") if reused and previous.is_file() else None
    if reused:
        # The overlay is plain files, so a reused rootfs still gets the current ones.
        rootfs.apply_overlays(arch, tree)
        say(f"reusing {tree}, {' and '.join(f.name for f in rootfs.overlays(arch))} re-applied")
    else:
        if arch != host_arch():
            say(f"{arch} on {host_arch()}: qemu-user through binfmt_misc (the rootfs takes 12-20 min)")
            enable_emulation(arch)
        wheel = rootfs.build_wheel(work / "wheel", sys.executable)
        say(f"wheel {wheel.name}")
        say(f"rootfs: mmdebstrap {rootfs.SUITE} {arch} from {rootfs.MIRROR}")
        rootfs.build_rootfs(arch, tree, wheel, work)
        disk.take_firmware(tree, firmware)
        rootfs_seconds = round(say.elapsed, 1)
        say("rootfs done")
    # In Python rather than the chroot, so a reused rootfs gets the current layout and version too.
    state.prepare_root(tree, arch)
    update.stamp_version(tree, version)
    signing.install_keyring(tree, keyring)
    sysupdate.install(tree, arch)
    trusted = signing.keyring_fingerprints(keyring)
    say(f"version {version}; read-only root: fstab, /etc links into /data/system, update keyring "
        f"({', '.join(trusted)}), sysupdate transfers")
    boot = work / "boot"
    disk.boot_files(arch, tree, firmware, boot, version)
    image = out / f"studio-{arch}.img"
    layout = disk.assemble(arch, tree, boot, work, image, version, say)
    record = {
        "arch": arch, "version": version, "image": str(image), "image_bytes": image.stat().st_size,
        "allocated_bytes": image.stat().st_blocks * 512, "layout_mib": layout.__dict__,
        "reused_rootfs": reused, "signing_key": str(key.folder), "trusted_keys": trusted,
        # A reused rootfs keeps the time it took to build, so a full build's cost stays on record.
        "rootfs_seconds": rootfs_seconds,
    }
    if arch == "amd64":
        # The KVM probe starts this kernel directly; the boots themselves go through OVMF and systemd-boot.
        shutil.copy2(disk.newest(tree / "boot", "vmlinuz-*"), out / f"vmlinuz-{arch}")
        record["kernel"] = str(out / f"vmlinuz-{arch}")
    else:
        # qemu's virt board starts the qemu build of the Pi's U-Boot release as its firmware.
        shutil.copy2(tree / uboot.QEMU_LOADER, out / f"u-boot-qemu-{arch}.bin")
        record["firmware"] = str(out / f"u-boot-qemu-{arch}.bin")
    made = update.make_update(arch, tree, work, out, version, key, say, root_image=work / "root.ext4")
    record.update(update=str(made), update_bytes=made.stat().st_size)
    record["build_seconds"] = round(say.elapsed, 1)
    (out / f"studio-{arch}.json").write_text(json.dumps(record, indent=2) + "\n")
    say(f"{image}: {record['image_bytes'] / disk.MIB:.0f} MiB ({record['allocated_bytes'] / disk.MIB:.0f} MiB "
        f"allocated) in {record['build_seconds']:.0f} s")
    return record


def host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.build", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(rootfs.FLAVOURS), default="amd64")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--reuse-rootfs", action="store_true",
                        help="keep the rootfs of the last build (re-applying overlay/); remake the disk (seconds)")
    parser.add_argument("--version", help="the image version (default <project version>.<UTC build time>)")
    parser.add_argument("--signing-key", type=Path, metavar="FOLDER",
                        help=f"the update signing key's folder, made there on first use (default "
                             f"${signing.ENVIRONMENT}, else {signing.DEFAULT_FOLDER}); keep it safe and backed up")
    parser.add_argument("--also-trust", type=Path, action="append", default=[], metavar="PUBLIC_KEY",
                        help="a further public key the image accepts updates from (another key folder's "
                             "public-key.gpg); repeatable; how a key is rotated (image/README.md)")
    args = parser.parse_args(argv)
    try:
        build(args.arch, args.out, args.reuse_rootfs, args.version, args.signing_key, args.also_trust)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
