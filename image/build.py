"""`python -m image.build --arch amd64|arm64 --out image/out`: one command, one flashable raw disk image.

Steps, each announced with its time: the project wheel, the rootfs
(mmdebstrap, minutes: its own progress shows), the boot files, the disk. The
result is `<out>/studio-<arch>.img` plus, for the qemu boot test and bench,
the kernel, initrd and a JSON record of sizes and build time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from image import disk, rootfs
from image.foreign_arch import enable_emulation

DEFAULT_OUT = Path(__file__).resolve().parent / "out"


class Progress:
    """`[  12.3s] image: step` lines, so a build of minutes is never silent."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:7.1f}s] image: {message}", flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


def build(arch: str, out: Path, reuse_rootfs: bool = False) -> dict:
    """Build `studio-<arch>.img` in `out`; return (and store as studio-<arch>.json) what was made."""
    say = Progress()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"work-{arch}"
    tree, boot = work / "rootfs", work / "boot"
    reused = reuse_rootfs and tree.is_dir() and boot.is_dir()
    previous = out / f"studio-{arch}.json"
    rootfs_seconds = json.loads(previous.read_text()).get("rootfs_seconds") if reused and previous.is_file() else None
    if reused:
        # The overlay is plain files, so a reused rootfs still gets the current ones.
        shutil.copytree(rootfs.IMAGE_DIR / "overlay", tree, dirs_exist_ok=True, symlinks=True)
        say(f"reusing {tree}, overlay re-applied")
    else:
        if arch != host_arch():
            say(f"{arch} on {host_arch()}: qemu-user through binfmt_misc (the rootfs takes 12-20 min)")
            enable_emulation(arch)
        wheel = rootfs.build_wheel(work / "wheel", sys.executable)
        say(f"wheel {wheel.name}")
        say(f"rootfs: mmdebstrap {rootfs.SUITE} {arch} from {rootfs.MIRROR}")
        rootfs.build_rootfs(arch, tree, wheel, work)
        disk.take_boot_files(arch, tree, boot)
        rootfs_seconds = round(say.elapsed, 1)
        say("rootfs done, boot files taken")
    image = out / f"studio-{arch}.img"
    layout = disk.assemble(arch, tree, boot, work, image, say)
    record = {
        "arch": arch, "image": str(image), "image_bytes": image.stat().st_size,
        "allocated_bytes": image.stat().st_blocks * 512, "layout_mib": layout.__dict__,
        "build_seconds": round(say.elapsed, 1), "reused_rootfs": reused,
        # A reused rootfs keeps the time it took to build, so a full build's cost stays on record.
        "rootfs_seconds": rootfs_seconds,
    }
    if arch == "amd64":
        # Direct kernel boot under qemu needs no firmware or bootloader.
        for name in ("vmlinuz", "initrd.img"):
            shutil.copy2(boot / name, out / f"{name}-{arch}")
        record.update(kernel=str(out / f"vmlinuz-{arch}"), initrd=str(out / f"initrd.img-{arch}"),
                      cmdline=disk.KERNEL_OPTIONS)
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
    args = parser.parse_args(argv)
    build(args.arch, args.out, args.reuse_rootfs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
