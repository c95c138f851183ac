"""A sound node as udev describes it, turned into the `deviceNotice` hootenanny takes.

`studio device added|removed <kernel name>` runs from `studio-device@.service`
(ExecStart/ExecStop with %i = controlC1, midiC1D0, ...). systemd does not pass
udev's properties to a service, so they come from udev's database
(`udevadm info`); when udev runs the command itself (RUN+=, or a test with a
synthetic environment) they are already in the environment, DEVPATH first.
90-studio.rules sets ID_STUDIO_CARD/KIND/DEVICE; without those (rules not
installed) the card id comes from /proc/asound (appliance.sound_devices).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from appliance.sound_devices import DeviceInfoError


def properties(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The node's udev properties: the environment when udev gave them, else udev's database."""
    if environ.get("DEVPATH"):
        if Path(environ["DEVPATH"]).name != name:
            raise DeviceInfoError(f"DEVPATH {environ['DEVPATH']} in the environment is not {name}; "
                                  "run without DEVPATH to ask udev")
        return dict(environ)
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        raise DeviceInfoError("udevadm is not installed, and no DEVPATH is in the environment: "
                              "apt-get install udev")
    out = subprocess.run([udevadm, "info", "--query=property", f"--path=/sys/class/sound/{name}"],
                         capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        raise DeviceInfoError(f"udev knows no sound device {name} ({out.stderr.strip() or 'no output'}): "
                              f"is it plugged in? (ls /dev/snd; udevadm info /sys/class/sound/{name})")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
