"""The root filesystem: Debian trixie by mmdebstrap, with the project and its settings provisioned inside.

Everything comes from Debian's mirror and PyPI. The project goes in as a wheel
built here; its dependencies are installed by the guest's own pip (Python 3.13
in trixie, 3.11 on the build host), so compiled ones build for the guest.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITE = "trixie"
IMAGE_DIR = Path(__file__).resolve().parent
REPO = IMAGE_DIR.parent

COMMON = [
    "systemd-sysv", "udev", "kmod", "dbus", "initramfs-tools", "e2fsprogs",
    "cloud-guest-utils", "fdisk", "alsa-utils", "libasound2t64", "libsndfile1", "python3", "python3-venv",
    "openssh-server", "avahi-daemon", "libnss-mdns", "chrony", "ca-certificates", "sudo", "wpasupplicant",
    "iproute2", "less", "procps", "systemd-resolved", "libnss-myhostname",
]
# Only to compile pyalsaaudio for the guest's Python; provision.sh purges them.
BUILD_ONLY = ["gcc", "libc6-dev", "python3-dev", "libasound2-dev"]


@dataclass(frozen=True)
class Flavour:
    """What differs between the NUC and the Pi: kernel, firmware, archive components."""

    arch: str
    packages: tuple[str, ...]
    components: str
    essential_hooks: tuple[str, ...] = ()


FLAVOURS = {
    # systemd-boot: the loader and systemd-bless-boot; systemd-container: systemd-sysupdate; gpgv: studio-update's
    # signature check.
    "amd64": Flavour("amd64", ("linux-image-amd64", "systemd-boot", "systemd-boot-efi", "systemd-container", "gpgv"),
                     "main"),
    # The Pi's boot firmware, its DTBs and the Wi-Fi firmware are in non-free-firmware.
    # u-boot-rpi: the loader between the Pi's firmware and the kernel, which runs our boot script (image/uboot.py);
    # u-boot-qemu: the same U-Boot release built for qemu's virt board, for the emulated boot test (2 MB).
    "arm64": Flavour("arm64", ("linux-image-arm64", "raspi-firmware", "firmware-brcm80211", "u-boot-rpi",
                               "u-boot-qemu", "systemd-container", "gpgv"), "main,non-free-firmware",
                     # raspi-firmware's hooks read this file when it is installed, so it goes in first.
                     (f'mkdir -p "$1/etc/default" && cp {IMAGE_DIR}/raspi-firmware.default "$1/etc/default/raspi-firmware"',)),
}


def overlays(arch: str) -> list[Path]:
    """The plain files laid over the rootfs: `overlay/` on every arch, then `overlay-<arch>/` where there is one."""
    return [folder for folder in (IMAGE_DIR / "overlay", IMAGE_DIR / f"overlay-{arch}") if folder.is_dir()]


def apply_overlays(arch: str, tree: Path) -> None:
    """Lay the overlays over an existing rootfs again (a reused one), replacing files and links already there."""
    for folder in overlays(arch):
        for source in sorted(folder.rglob("*")):
            target = tree / source.relative_to(folder)
            if source.is_dir() and not source.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.is_symlink() or target.exists():
                target.unlink()
            if source.is_symlink():
                target.symlink_to(source.readlink())
            else:
                shutil.copy2(source, target)


def build_wheel(into: Path, python: str) -> Path:
    """`pip wheel . --no-deps`: the project exactly as this checkout has it."""
    into.mkdir(parents=True, exist_ok=True)
    for old in into.glob("studio_appliance-*.whl"):
        old.unlink()
    subprocess.run([python, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into),
                    str(REPO)], check=True)
    (wheel,) = into.glob("studio_appliance-*.whl")
    return wheel


def stage_build_files(stage: Path, wheel: Path) -> Path:
    """What provision.sh reads from /tmp/studio-build inside the chroot."""
    build = stage / "studio-build"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    shutil.copy2(wheel, build)
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", build / "ca-bundle.crt")
    shutil.copy2("/etc/resolv.conf", build / "resolv.conf")
    shutil.copy2(REPO / "README.md", build / "README.md")
    shutil.copy2(IMAGE_DIR / "provision.sh", build / "provision.sh")
    return build


def mmdebstrap_command(flavour: Flavour, target: Path, build: Path) -> list[str]:
    """The whole rootfs in one mmdebstrap run; hooks place the overlay, the units and the rules, then provision."""
    units = " ".join(str(p) for p in sorted((REPO / "systemd").glob("*.service")) + [REPO / "systemd/studio.target"])
    hooks = [
        *(f"--essential-hook={hook}" for hook in flavour.essential_hooks),
        '--essential-hook=mkdir -p "$1/boot/firmware"',
        *(f"--customize-hook=sync-in {folder} /" for folder in overlays(flavour.arch)),
        f'--customize-hook=cp {units} "$1/usr/lib/systemd/system/"',
        f'--customize-hook=mkdir -p "$1/etc/studio" "$1/var/lib/studio" && cp {REPO}/systemd/studio.toml "$1/etc/studio/"',
        f'--customize-hook=cp {REPO}/udev/90-studio.rules "$1/usr/lib/udev/rules.d/"',
        f'--customize-hook=cp -r {build} "$1/tmp/"',
        '--customize-hook=chroot "$1" sh /tmp/studio-build/provision.sh',
    ]
    # force-confold: our files placed before a package (the Pi's /etc/default/raspi-firmware) are
    # kept without dpkg asking, which on a build with no terminal fails the package.
    return ["nice", "-n", "10", "mmdebstrap", "--variant=minbase", f"--architectures={flavour.arch}",
            "--dpkgopt=force-confold",
            f"--components={flavour.components}", "--include=" + ",".join(COMMON + BUILD_ONLY + list(flavour.packages)),
            *hooks, SUITE, str(target), MIRROR]


def build_rootfs(arch: str, target: Path, wheel: Path, stage: Path) -> None:
    """Build into the directory `target` (replaced); mmdebstrap's own progress goes to the terminal."""
    # Removing a rootfs that still has the host's /dev/shm or /proc mounted in it (a chroot left open, a build
    # killed half-way) would delete host files through them.
    refuse_mounts_inside(target, "the old rootfs, which this build would delete")
    if target.exists():
        shutil.rmtree(target)
    build = stage_build_files(stage, wheel)
    subprocess.run(mmdebstrap_command(FLAVOURS[arch], target, build), check=True)
    # mmdebstrap only warns when it cannot unmount /proc or /sys (a process
    # still in the chroot); mkfs.ext4 -d would then copy the host's /proc.
    refuse_mounts_inside(target, "the new rootfs after mmdebstrap")


def mounts_inside(folder: Path, mounts: str | None = None) -> list[str]:
    """Mount points below `folder`, from /proc/mounts (or the `mounts` text given)."""
    text = Path("/proc/mounts").read_text() if mounts is None else mounts
    prefix = f"{folder.resolve()}/"
    return [line.split()[1] for line in text.splitlines() if line.split()[1].startswith(prefix)]


def refuse_mounts_inside(folder: Path, what: str) -> None:
    left = mounts_inside(folder)
    if left:
        raise RuntimeError(f"still mounted inside {what}: {', '.join(left)}; unmount them "
                           f"(umount -l {left[0]}) and build again")
