"""Devices: what is present at start is known, an id from device_list records, device_connected says what is true."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from appliance.cas import ContentStore
from appliance.proto.stream_definition import StreamKind
from appliance.proto.stream_messages import DeviceNotice
from appliance.services.store.catalog import open_catalog
from appliance.services.capture.devices import DeviceRegistry
from appliance.sound_devices import present
from tests.services.test_streams_e2e import wait_for
from tests.support.stack import ToolFailed

RATE = 48000


def fake_kernel(root: Path) -> tuple[Path, Path]:
    """A sysfs sound class and /proc/asound as the kernel lays them out for one card with one MIDI port."""
    sys_sound, proc = root / "sys" / "class" / "sound", root / "proc" / "asound"
    for name in ("card1", "controlC1", "midiC1D0", "pcmC1D0c", "pcmC1D0p", "seq", "timer"):
        (sys_sound / name).mkdir(parents=True)
    (proc / "card1").mkdir(parents=True)
    (proc / "card1" / "id").write_text("ES9\n")
    return sys_sound, proc


def test_the_scan_names_cards_and_ports_as_udev_does(tmp_path):
    sys_sound, proc = fake_kernel(tmp_path)
    found = present(sys_sound, proc)
    assert [(d.device_id, d.kind, d.alsa_name) for d in found] == [
        ("ES9", "audio", "hw:CARD=ES9,DEV=0"), ("midi-ES9-0", "midi", "/dev/snd/midiC1D0")]
    assert present(tmp_path / "no-sysfs", proc) == []


def test_a_rescan_connects_what_is_there_and_disconnects_what_left(tmp_path):
    registry = DeviceRegistry(open_catalog(tmp_path / "catalog.db"))
    registry.seen(DeviceNotice(device_id="OLD", action="added", kind=StreamKind.AUDIO, alsa_name="hw:CARD=OLD,DEV=0",
                               dev_path="/devices/old"))  # unplugged while we were down
    registry.rescan(present(*fake_kernel(tmp_path)))
    listed = {d.id: d.connected for d in registry.list()}
    assert listed == {"sim": True, "ES9": True, "midi-ES9-0": True, "OLD": False}
    assert registry.resolve("midi-ES9-0") == "/dev/snd/midiC1D0"
    assert registry.resolve("ES9") == "hw:CARD=ES9,DEV=0"
    assert registry.resolve("hw:CARD=Other,DEV=0") == "hw:CARD=Other,DEV=0"  # not an id: opened as given
    assert registry.connected("OLD") is False and registry.connected("hw:CARD=ES9,DEV=0") is True
    assert registry.connected("plughw:Nowhere") is None


async def test_an_id_from_device_list_records_and_status_tells_the_truth(stack, tools, short_tmp):
    """udev's `studio device added` registers a MIDI port; a stream on its id opens the node the id names."""
    stack.start("chaosgarden")
    stack.start("hootenanny")
    port = short_tmp / "midiC1D0"
    os.mkfifo(port)
    udev = {**stack.env, "DEVPATH": "/devices/virtual/sound/card1/midiC1D0", "DEVNAME": str(port),
            "ID_STUDIO_CARD": "ES9"}
    added = subprocess.run([sys.executable, "-m", "appliance.cli", "device", "added", "midiC1D0"], env=udev,
                           capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    devices = {d["id"]: d for d in (await tools.call("device_list"))["devices"]}
    assert devices["midi-ES9-0"]["connected"] and devices["midi-ES9-0"]["alsa_name"] == str(port)

    uri = "stream://eurorack/keys"
    await tools.call("stream_create", uri=uri, device="midi-ES9-0", kind="midi")
    writer = os.open(port, os.O_RDWR)
    try:
        status = await tools.call("stream_start", uri=uri)
        assert status["state"] == "recording" and status["device_connected"]
        for note in (60, 64, 67):
            os.write(writer, bytes((0x90, note, 90)))
            await asyncio.sleep(0.05)
            os.write(writer, bytes((0x80, note, 0)))
        await wait_for(tools, uri, lambda s: s["head_sample"] > RATE // 2)
        cut = await tools.call("stream_slice", uri=uri, start={"sample": 0}, end="now")
        song = mido.MidiFile(ContentStore(stack.data_dir / "cas").path(cut["content_hash"]))
        assert [m.note for m in song if m.type == "note_on"] == [60, 64, 67]
    finally:
        os.close(writer)

    # A device that cannot be opened: the start fails, and the status says the device is not there.
    gone = "stream://eurorack/gone"
    await tools.call("stream_create", uri=gone, device=str(short_tmp / "midiC9D0"), kind="midi")
    with pytest.raises(ToolFailed, match="cannot open raw MIDI"):
        await tools.call("stream_start", uri=gone)
    status = (await tools.call("stream_status", uri=gone))["streams"][0]
    assert not status["device_connected"] and "cannot open raw MIDI" in status["last_error"]
