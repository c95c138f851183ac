"""Sound cards and raw MIDI ports as the box names them, from a kernel node name or a scan of what is present.

Shared by the `studio device` command (udev's arrivals and departures) and
hootenanny (the scan at start-up, so devices plugged in before it ran, or
while it was down, are known without being plugged in again). The ids match
what udev/90-studio.rules sets: the card's ALSA id ("ES9") for a card, and
"midi-<card id>-<port>" for a raw MIDI port.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from appliance.proto.stream_definition import StreamKind
from appliance.proto.stream_messages import DeviceAction, DeviceNotice

NODE = re.compile(r"^(?:controlC(?P<card>\d+)|midiC(?P<midi_card>\d+)D(?P<port>\d+))$")
PROC_ASOUND = Path("/proc/asound")
SYS_SOUND = Path("/sys/class/sound")


class DeviceInfoError(Exception):
    """The node is not a sound card or MIDI port udev knows; the message says what to check."""


def kernel_name(name: str) -> re.Match[str]:
    """Parse `controlC<n>` or `midiC<n>D<d>` (what the unit's %i is)."""
    match = NODE.match(name)
    if match is None:
        raise DeviceInfoError(f"{name!r} is not a sound card control node (controlC<n>) or raw MIDI port "
                              "(midiC<n>D<d>); see /dev/snd")
    return match


def notice(action: DeviceAction, props: Mapping[str, str], proc_asound: Path = PROC_ASOUND) -> DeviceNotice:
    """The device notice for udev properties `props`."""
    node = Path(props["DEVPATH"]).name
    match = kernel_name(node)
    card = props.get("ID_STUDIO_CARD") or card_id(int(match["card"] or match["midi_card"]), proc_asound)
    if match["port"] is not None:
        device_id = props.get("ID_STUDIO_DEVICE") or f"midi-{card}-{match['port']}"
        kind, alsa_name = StreamKind.MIDI, props.get("DEVNAME") or f"/dev/snd/{node}"
    else:
        device_id = props.get("ID_STUDIO_DEVICE") or card
        kind, alsa_name = StreamKind.AUDIO, f"hw:CARD={card},DEV=0"
    return DeviceNotice(device_id=device_id, action=action, kind=kind, alsa_name=alsa_name,
                        dev_path=props["DEVPATH"])


def card_id(number: int, proc_asound: Path = PROC_ASOUND) -> str:
    """ALSA's id of card `number` (what `hw:CARD=<id>` names), or card<n> when ALSA does not say."""
    try:
        return (proc_asound / f"card{number}" / "id").read_text().strip() or f"card{number}"
    except OSError:
        return f"card{number}"


def present(sys_sound: Path = SYS_SOUND, proc_asound: Path = PROC_ASOUND) -> list[DeviceNotice]:
    """An `added` notice for every card and raw MIDI port the kernel has now (none where there is no sysfs)."""
    try:
        names = sorted(entry.name for entry in sys_sound.iterdir() if NODE.match(entry.name))
    except OSError:
        return []
    found = []
    for name in names:
        real = Path(os.path.realpath(sys_sound / name))
        devpath = "/" + str(real.relative_to("/sys")) if real.is_relative_to("/sys") else str(sys_sound / name)
        found.append(notice("added", {"DEVPATH": devpath}, proc_asound))
    return found
