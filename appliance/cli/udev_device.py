"""A sound node as udev describes it, turned into the `deviceNotice` hootenanny takes.

`studio device added|removed <kernel name>` runs from `studio-device@.service`
(ExecStart/ExecStop with %i = controlC1, midiC1D0, ...). systemd does not pass
udev's properties to a service, so they come from udev's database
(`udevadm info`); when udev runs the command itself (RUN+=, or a test with a
synthetic environment) they are already in the environment, DEVPATH first.
90-studio.rules sets ID_STUDIO_CARD/KIND/DEVICE; without those (rules not
installed) the card id comes from /proc/asound.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

NODE = re.compile(r"^(?:controlC(?P<card>\d+)|midiC(?P<midi_card>\d+)D(?P<port>\d+))$")
PROC_ASOUND = Path("/proc/asound")


class DeviceInfoError(Exception):
    """The node is not a sound card or MIDI port udev knows; the message says what to check."""


def kernel_name(name: str) -> re.Match[str]:
    """Parse `controlC<n>` or `midiC<n>D<d>` (what the unit's %i is)."""
    match = NODE.match(name)
    if match is None:
        raise DeviceInfoError(f"{name!r} is not a sound card control node (controlC<n>) or raw MIDI port "
                              "(midiC<n>D<d>); see /dev/snd")
    return match


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


def notice(action: str, props: Mapping[str, str]) -> dict[str, str]:
    """The deviceNotice for `props` (see DeviceEvent in broadcast.capnp)."""
    node = Path(props["DEVPATH"]).name
    match = kernel_name(node)
    card = props.get("ID_STUDIO_CARD") or card_id(int(match["card"] or match["midi_card"]))
    if match["port"] is not None:
        device_id = props.get("ID_STUDIO_DEVICE") or f"midi-{card}-{match['port']}"
        kind, alsa_name = "midi", props.get("DEVNAME") or f"/dev/snd/{node}"
    else:
        device_id = props.get("ID_STUDIO_DEVICE") or card
        kind, alsa_name = "audio", f"hw:CARD={card},DEV=0"
    return {"deviceId": device_id, "action": action, "kind": kind, "alsaName": alsa_name,
            "devPath": props["DEVPATH"]}


def card_id(number: int) -> str:
    """ALSA's id of card `number` (what `hw:CARD=<id>` names), or card<n> when ALSA does not say."""
    try:
        return (PROC_ASOUND / f"card{number}" / "id").read_text().strip() or f"card{number}"
    except OSError:
        return f"card{number}"
