"""Where a box with a read-only root keeps what it writes: the data partition, mounted at /data.

The root is the same for every box and never written. What differs per box
or changes while it runs lives on the data partition, which the initramfs
mounts at /data before systemd starts (`overlay/etc/initramfs-tools/scripts/
local-bottom/studio-data`), so even the machine ID and hostname that systemd
reads first can point there:

- `/data/studio`: the studio data directory, bind-mounted at /var/lib/studio
  (recordings, CAS, catalog, MCP token); owned by studio.
- `/data/system/etc`: the machine ID, hostname, SSH host keys and Wi-Fi
  settings, which the root's /etc links to; owned by root, out of the
  services' reach (the studio user owns /data/studio, and could otherwise
  swap a directory of root's that sat inside it).
- `/data/system/{var,home}`: upper layers of overlays over the image's /var
  and /home, so the journal, chrony's drift, the ALSA mixer state, systemd's
  timers and random seed, and the studio user's authorized keys persist,
  while whatever the image ships there still shows through.
- `/data/system/firstboot.done`, `/data/system/data-grown`: first boot's stamps.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path("/data")
SYSTEM = DATA / "system"
STUDIO = DATA / "studio"
STUDIO_MOUNT = Path("/var/lib/studio")
FIRSTBOOT_STAMP = SYSTEM / "firstboot.done"
OVERLAID = ("/var", "/home")
SSH_KEY_TYPES = ("rsa", "ecdsa", "ed25519")
# Where each arch's boot partition is mounted: the Pi's firmware packages
# write /boot/firmware; on amd64 it is the ESP, at the place systemd's tools
# (bootctl, systemd-bless-boot) look for it.
BOOT_MOUNTS = {"amd64": "/boot/efi", "arm64": "/boot/firmware"}


def etc_links() -> dict[str, str]:
    """Each file in the root's /etc that is the box's own, and where on /data it really is."""
    files = ["machine-id", "hostname", "wpa_supplicant/wpa_supplicant-wlan0.conf"]
    for kind in SSH_KEY_TYPES:
        files += [f"ssh/ssh_host_{kind}_key", f"ssh/ssh_host_{kind}_key.pub"]
    return {f"/etc/{name}": str(SYSTEM / "etc" / name) for name in files}


def directories() -> list[str]:
    """Every directory under /data that the links and overlays need (the initramfs makes them too)."""
    needed = {str(STUDIO)} | {str(Path(target).parent) for target in etc_links().values()}
    for lower in OVERLAID:
        upper = SYSTEM / lower.lstrip("/")
        needed |= {str(upper), f"{upper}.work"}
    return sorted(needed)


def fstab(arch: str) -> str:
    """The image's /etc/fstab; the root (read-only, from the kernel command line) and /data (the initramfs) are not in it."""
    if arch not in BOOT_MOUNTS:
        raise ValueError(f"arch {arch!r}: no boot partition mount known; allowed: {', '.join(sorted(BOOT_MOUNTS))}")
    lines = [
        "# The root is mounted read-only by the initramfs from the kernel command line",
        "# (root=PARTLABEL=<slot> ro), and the data partition (LABEL=studio-data) at",
        "# /data by the initramfs too (scripts/local-bottom/studio-data), so neither is",
        "# here. Everything the box writes is on /data: see image/state.py.",
        f"LABEL=STUDIO-BOOT  {BOOT_MOUNTS[arch]:<16} vfat     defaults,umask=0077,nofail  0 2",
    ]
    for lower in OVERLAID:
        upper = SYSTEM / lower.lstrip("/")
        lines.append(f"overlay            {lower:<16} overlay  lowerdir={lower},upperdir={upper},workdir={upper}.work  0 0")
    lines.append(f"{STUDIO}       {STUDIO_MOUNT!s:<16} none     bind  0 0")
    return "\n".join(lines) + "\n"


def prepare_root(rootfs: Path, arch: str) -> None:
    """At build time (idempotent): the fstab, the mount points, and the root's per-box /etc files as links into /data."""
    (rootfs / "etc/fstab").write_text(fstab(arch))
    for mount in (DATA, Path(BOOT_MOUNTS[arch])):
        (rootfs / mount.relative_to("/")).mkdir(parents=True, exist_ok=True)
    for name, target in etc_links().items():
        path = rootfs / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(target)


def populate(data_root: Path, studio_ids: tuple[int, int]) -> None:
    """The data partition's initial tree in `data_root` (the directory `mkfs.ext4 -d` copies)."""
    for directory in directories():
        (data_root / Path(directory).relative_to(DATA)).mkdir(parents=True, exist_ok=True)
    # Empty: systemd makes the machine ID on first boot and writes it through /etc/machine-id.
    (data_root / "system/etc/machine-id").touch(mode=0o444)
    studio = data_root / STUDIO.relative_to(DATA)
    os.chown(studio, *studio_ids)
    studio.chmod(0o750)
    (data_root / "system/etc/wpa_supplicant").chmod(0o700)
