"""Running arm64 programs on an amd64 build host: qemu-user registered with binfmt_misc.

mmdebstrap runs the new rootfs's maintainer scripts inside it, so building
for the Pi on a PC needs the kernel to hand aarch64 binaries to qemu. There
is no systemd on every build host to do that at boot, so it is done here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_NAMES = {"arm64": "qemu-aarch64"}


def enable_emulation(arch: str) -> None:
    """Mount binfmt_misc if needed and enable the qemu-user handler for `arch`."""
    name = QEMU_NAMES[arch]
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    if not (BINFMT / name).exists():
        subprocess.run(["update-binfmts", "--enable", name], check=True)
    if "enabled" not in (BINFMT / name).read_text():
        raise RuntimeError(f"{BINFMT / name} is not enabled; is qemu-user-static installed?")
