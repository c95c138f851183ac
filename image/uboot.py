"""The Pi's A/B: U-Boot runs our boot script, which picks the root slot and counts a new version's tries.

The Pi's firmware starts U-Boot (`kernel=u-boot.bin` in config.txt) and
U-Boot runs `boot.scr` from the boot partition. The script reads
`studio_boot.env` there, a few `name=value` lines:

- `studio_good`: the version that last passed its boot assessment;
- `studio_trial`, `studio_tries`: a new version and the boots it has left.

While a trial has tries left, the script counts one down, writes the file
back, and boots the trial; once none are left it boots the good version
again. It boots `studio_<V>.vmlinuz` and `studio_<V>.initrd` from the boot
partition with `root=PARTLABEL=studio_<V>`, so a version names its slot as on
amd64, and falls back to the good version if the trial's files will not load.

On the box, `studio-update` arms a trial after systemd-sysupdate wrote the
other slot and the kernel and initrd; studio-good-boot makes the trial the
good version once capture runs and MCP answers; a failed assessment reboots,
and so spends a try (`overlay-arm64/usr/local/lib/studio/boot-trial`). The
same script runs on the qemu build of the same U-Boot release for the
emulated boot test; only the console differs by board.

Why not the firmware's own `tryboot`, or systemd-boot under U-Boot's UEFI:
image/README.md, "On the Raspberry Pi".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from image import slots

SCRIPT = "boot.scr"
STATE = "studio_boot.env"
LOADER = "u-boot.bin"
# From u-boot-rpi: its 64-bit build for the Pi 4 and 400 (the Pi 5 only as far as U-Boot supports it: untested).
PI_LOADER = "usr/lib/u-boot/rpi_arm64/u-boot.bin"
# From u-boot-qemu: the same release for qemu's virt board, which the emulated boot test starts as its firmware.
QEMU_LOADER = "usr/lib/u-boot/qemu_arm64/u-boot.bin"
# Debian's arm64 kernel is a 37 MiB Image that booti moves to the first 2 MiB boundary; its default
# ramdisk_addr_r on the Pi is 38 MiB past kernel_addr_r, so the initrd goes 96 MiB past instead.
INITRD_OFFSET = 0x6000000
PI_CONSOLES = "console=serial0,115200 console=tty1"
# qemu's virt board: its PL011 UART.
OTHER_CONSOLES = "console=ttyAMA0,115200"
# setexpr computes in hex: single digits read the same in both bases.
MAX_TRIES = 9
# U-Boot's hush parser rejects an apostrophe even inside double quotes; the script's messages avoid it.


def script_text() -> str:
    """The boot script's source (`mkimage -T script` wraps it into boot.scr)."""
    here = "${devtype} ${devnum}:${distro_bootpart}"
    options = slots.kernel_options_for_label(f"{slots.PREFIX}${{studio_try}}", "${studio_console} rootwait")
    return f"""\
# Studio box: boot the good version, or a version on trial while it has tries left.
# Written by image/uboot.py; the state is in {STATE} on this partition.
setenv studio_good
setenv studio_trial
setenv studio_tries 0
if load {here} ${{scriptaddr}} {STATE}; then
  env import -t ${{scriptaddr}} ${{filesize}}
fi
if test -z "${{studio_good}}"; then
  echo "studio: {STATE} names no studio_good version; cannot boot"
  exit
fi
setenv studio_boot ${{studio_good}}
if test -n "${{studio_trial}}" && test ${{studio_tries}} -gt 0; then
  setexpr studio_tries ${{studio_tries}} - 1
  env export -t ${{scriptaddr}} studio_good studio_trial studio_tries
  if save {here} ${{scriptaddr}} {STATE} ${{filesize}}; then
    setenv studio_boot ${{studio_trial}}
  else
    echo "studio: cannot write {STATE} to count down the tries of ${{studio_trial}}; booting ${{studio_good}}"
  fi
fi
if test "${{board}}" = "rpi"; then
  setenv studio_console "{PI_CONSOLES}"
else
  setenv studio_console "{OTHER_CONSOLES}"
fi
if test "${{studio_boot}}" = "${{studio_good}}"; then
  setenv studio_fallback
else
  setenv studio_fallback ${{studio_good}}
fi
setexpr studio_initrd_addr ${{kernel_addr_r}} + {INITRD_OFFSET:#x}
if test -n "${{studio_trial}}"; then
  setenv studio_said "trial ${{studio_trial}} has ${{studio_tries}} tries left"
else
  setenv studio_said "nothing on trial"
fi
for studio_try in ${{studio_boot}} ${{studio_fallback}}; do
  echo "studio: booting ${{studio_try}} (good ${{studio_good}}, ${{studio_said}})"
  if load {here} ${{kernel_addr_r}} {slots.PREFIX}${{studio_try}}.vmlinuz && load {here} ${{studio_initrd_addr}} {slots.PREFIX}${{studio_try}}.initrd; then
    setenv bootargs "{options}"
    echo "studio: kernel command line ${{bootargs}}"
    booti ${{kernel_addr_r}} ${{studio_initrd_addr}}:${{filesize}} ${{fdt_addr}}
  fi
  echo "studio: ${{studio_try}} did not boot"
done
"""


def compile_script(text: str, target: Path) -> None:
    """Wrap the script source into a U-Boot script image (`mkimage` from u-boot-tools)."""
    source = target.with_suffix(".cmd")
    source.write_text(text)
    subprocess.run(["mkimage", "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "studio boot",
                    "-d", str(source), str(target)], check=True, capture_output=True)
    source.unlink()


def state_text(good: str, trial: str | None = None, tries: int = 0) -> str:
    """studio_boot.env for a good version and, optionally, a trial with `tries` boots left."""
    lines = [f"studio_good={slots.check_version(good)}"]
    if not 0 <= tries <= MAX_TRIES:
        raise ValueError(f"tries {tries}: allowed 0 to {MAX_TRIES} (the script counts down with setexpr, which "
                         "computes in hex)")
    if trial is not None:
        lines += [f"studio_trial={slots.check_version(trial)}", f"studio_tries={tries}"]
    return "\n".join(lines) + "\n"


def config_txt(packaged: str) -> str:
    """raspi-firmware's settings with U-Boot as the "kernel" the firmware starts, instead of a kernel and initrd."""
    settings = [line.strip() for line in packaged.splitlines()
                if line.split("#", 1)[0].strip() and not line.strip().startswith(("kernel=", "initramfs", "cmdline="))]
    if "arm_64bit=1" not in settings:
        settings.insert(0, "arm_64bit=1")
    return "\n".join(["# The Pi's firmware reads this. Written by image/uboot.py from raspi-firmware's settings:",
                      "# the firmware starts U-Boot, which runs boot.scr, which picks the root slot.",
                      *settings, f"kernel={LOADER}", ""])
