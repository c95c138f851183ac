"""Timeline playback through a real chaosgarden: audio read back from the ALSA `file` plugin, MIDI from a FIFO.

The playback PCM is the file plugin over `null`, paced by CLOCK_MONOTONIC,
so byte n of its output file is clock sample n: a region's position can be
checked exactly. MIDI goes into a FIFO whose other end this test reads and
timestamps.
"""

import asyncio
import os
import select
import threading
import time

import mido
import numpy as np
import pytest
import soundfile as sf

from appliance.proto.audition_messages import Audition
from appliance.proto.channel import RequestError
from appliance.rt.beat_clock import SampleClock, TempoMap
from appliance.rt.player import Player
from tests.support.garden import until

RATE = 48000
PERIOD = 256
FRAME = 8  # stereo s32


@pytest.fixture
def midi_fifo(short_tmp):
    path = short_tmp / "midi-out.fifo"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader exists before chaosgarden opens its end
    yield path, fd
    os.close(fd)


@pytest.fixture
def garden_env(short_tmp, midi_fifo):
    home = short_tmp / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.studioplay {{\n type file\n slave.pcm "null"\n file "{short_tmp / "out.raw"}"\n format "raw"\n}}\n')
    return {"HOME": str(home), "STUDIO_RT_PLAYBACK_DEVICE": "studioplay", "STUDIO_RT_PLAYBACK_CLOCK": "monotonic",
            "STUDIO_RT_PLAYBACK_PERIOD_FRAMES": str(PERIOD), "STUDIO_RT_MIDI_OUT": str(midi_fifo[0])}


class MidiArrivals(threading.Thread):
    """The FIFO's reader: every byte with the CLOCK_MONOTONIC time it arrived."""

    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd, self.seen, self.done = fd, [], threading.Event()

    def run(self):
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self.done.is_set():
            if poller.poll(20):
                try:
                    data = os.read(self.fd, 64)
                except BlockingIOError:
                    continue
                now = time.monotonic_ns()
                self.seen += [(now, b) for b in data]

    def messages(self):
        """(arrival ns, 3-byte message) for note on/off."""
        out, stream = [], self.seen
        for i in range(0, len(stream) - 2, 3):
            out.append((stream[i][0], bytes(b for _t, b in stream[i : i + 3])))
        return out


def write_smf(path, beats, note=60):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    last = 0
    for b in beats:
        on = int(b * 480)
        track.append(mido.Message("note_on", note=note, velocity=100, time=on - last))
        track.append(mido.Message("note_off", note=note, velocity=0, time=120))
        last = on + 120
    mid.save(path)


def out_samples(short_tmp):
    raw = (short_tmp / "out.raw").read_bytes()
    return np.frombuffer(raw[: len(raw) // FRAME * FRAME], dtype="<i4").reshape(-1, 2)


async def transport(control, verb, arg=None):
    return (await control.request("transportCommand", {verb: arg}, timeout=10, retries=0)).value


async def test_audio_region_plays_at_its_beat_sample_exact(control, short_tmp):
    burst = (np.cos(np.arange(4800) / 10) * 0.5).astype(np.float32)  # non-zero from its first sample
    sf.write(short_tmp / "burst.wav", np.stack([burst, -burst], axis=1), RATE, subtype="FLOAT")
    await transport(control, "tempo", 240.0)  # a beat is 12000 samples
    await control.request("timelineSchedule", {"id": "r1", "contentPath": str(short_tmp / "burst.wav"),
                                               "mime": "audio/wav", "atBeat": 2.0, "durationBeats": 0.0,
                                               "gain": 0.5}, timeout=30, retries=0)
    played = await transport(control, "play")
    start = played["samplePosition"] + 2 * 12000
    await until(lambda: len(out_samples(short_tmp)) > start + 6000)
    out = out_samples(short_tmp)
    first = int(np.flatnonzero(out[:, 0])[0])
    assert abs(first - start) <= 1
    assert np.allclose(out[first : first + 4800] / (2**31 - 1), np.stack([burst, -burst], axis=1) * 0.5, atol=1e-6)
    assert not out[first + 4800 : first + 6000].any()  # the region ends with its audio
    await transport(control, "stop")


async def test_resampled_mono_region_is_decoded_outside_and_fills_both_channels(control, short_tmp):
    sf.write(short_tmp / "mono.wav", np.full(4410, 0.25, dtype=np.float32), 44100, subtype="FLOAT")
    await transport(control, "tempo", 240.0)
    await control.request("timelineSchedule", {"id": "r2", "contentPath": str(short_tmp / "mono.wav"),
                                               "mime": "audio/wav", "atBeat": 1.0, "durationBeats": 0.0,
                                               "gain": 1.0}, timeout=30, retries=0)
    played = await transport(control, "play")
    start = played["samplePosition"] + 12000
    await until(lambda: len(out_samples(short_tmp)) > start + 6000)
    region = out_samples(short_tmp)[start + 2 : start + 4798] / (2**31 - 1)
    assert np.allclose(region, 0.25, atol=1e-6)  # 0.1 s at 44.1 kHz became 4800 frames at 48 kHz, on both channels
    await transport(control, "stop")


async def test_scheduled_midi_leaves_on_its_beats(control, short_tmp, midi_fifo):
    """Each note leaves on its own beat; how close to the grid is a figure in bench/beat_clock.py."""
    reader = MidiArrivals(midi_fifo[1])
    reader.start()
    write_smf(short_tmp / "four.mid", [0, 1, 2, 3])
    await transport(control, "tempo", 300.0)  # 0.2 s a beat
    await control.request("timelineSchedule", {"id": "m1", "contentPath": str(short_tmp / "four.mid"),
                                               "mime": "audio/midi", "atBeat": 1.0, "durationBeats": 0.0,
                                               "gain": 1.0}, timeout=30, retries=0)
    await asyncio.sleep(0.6)  # chaosgarden has opened the FIFO
    played = await transport(control, "play")
    await until(lambda: len(reader.messages()) >= 8)
    reader.done.set()
    ons = [(t, m) for t, m in reader.messages() if m[0] == 0x90]
    assert [m for _t, m in ons] == [bytes((0x90, 60, 100))] * 4
    half_beat_ns = int(0.1e9)
    for n, (arrived, _m) in enumerate(ons):
        due = played["monotonicNs"] + int((1 + n) * 0.2e9)
        assert abs(arrived - due) < half_beat_ns, (n, arrived - due)  # nearer its own beat than any other
    await transport(control, "stop")


async def test_audition_plays_now_without_the_transport(control, short_tmp, midi_fifo):
    reader = MidiArrivals(midi_fifo[1])
    reader.start()
    sf.write(short_tmp / "click.wav", np.full((480, 2), 0.5, dtype=np.float32), RATE, subtype="FLOAT")
    write_smf(short_tmp / "one.mid", [0])
    await asyncio.sleep(0.6)
    audio = (await control.request("audition", {"contentPath": str(short_tmp / "click.wav"), "mime": "audio/wav",
                                                "durationSeconds": 0.0, "gain": 1.0, "midiOut": ""},
                                    timeout=30, retries=0)).value
    assert audio["durationSeconds"] == 0.01
    await until(lambda: len(out_samples(short_tmp)) > audio["startSample"] + 1000)
    first = int(np.flatnonzero(out_samples(short_tmp)[:, 0])[0])
    assert first == audio["startSample"]
    asked = time.monotonic_ns()
    midi = (await control.request("audition", {"contentPath": str(short_tmp / "one.mid"), "mime": "audio/midi",
                                               "durationSeconds": 0.0, "gain": 1.0, "midiOut": ""},
                                   timeout=30, retries=0)).value
    await until(lambda: len(reader.messages()) >= 2)
    reader.done.set()
    arrived, message = reader.messages()[0]
    assert message == bytes((0x90, 60, 100))
    # Due after it was asked for, and never sent early (the answer names its start to the sample, which
    # may round it up by one). How late it can be on a loaded machine is a figure in bench/beat_clock.py.
    one_sample_ns = 1_000_000_000 // RATE + 1
    assert asked < midi["startMonotonicNs"] <= arrived + one_sample_ns
    assert (await transport(control, "status"))["state"] == "stopped"


async def test_removing_a_sounding_region_fades_it_out_instead_of_clicking(control, short_tmp):
    sf.write(short_tmp / "dc.wav", np.full((48000, 2), 0.5, dtype=np.float32), RATE, subtype="FLOAT")
    await transport(control, "tempo", 240.0)
    region = {"id": "dc", "contentPath": str(short_tmp / "dc.wav"), "mime": "audio/wav", "atBeat": 1.0,
              "durationBeats": 0.0, "gain": 1.0, "artifactId": "art-dc"}
    await control.request("timelineSchedule", region, timeout=30, retries=0)
    played = await transport(control, "play")
    start = played["samplePosition"] + 12000
    await until(lambda: len(out_samples(short_tmp)) > start + 100)  # it sounds (its 48000 frames last a second)
    removed = (await control.request("timelineRemove", "dc", timeout=10, retries=0)).value
    assert removed == region
    await until(lambda: len(out_samples(short_tmp)) > start + 48000 + 1000)
    out = out_samples(short_tmp)[start + 2 :, 0] / (2**31 - 1)  # from inside the region (its start is +-1)
    assert out[0] == pytest.approx(0.5)
    assert int(np.flatnonzero(out)[-1]) < 48000 - 256  # cut short, ...
    assert np.abs(np.diff(out)).max() <= 0.5 / 256 + 1e-6  # ... by a ramp to silence, not a step
    with pytest.raises(RequestError) as refused:
        await control.request("timelineRemove", "dc", timeout=10, retries=0)
    assert refused.value.code == "notFound" and "'dc'" in refused.value.message
    assert "the timeline has no regions" in refused.value.message
    await transport(control, "stop")


async def test_removing_a_midi_region_releases_its_sounding_notes(control, short_tmp, midi_fifo):
    reader = MidiArrivals(midi_fifo[1])
    reader.start()
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", note=64, velocity=90, time=0),
                                      mido.Message("note_off", note=64, velocity=0, time=480 * 1000)]))
    mid.save(short_tmp / "held.mid")
    await control.request("timelineSchedule", {"id": "held", "contentPath": str(short_tmp / "held.mid"),
                                               "mime": "audio/midi", "atBeat": 0.0, "durationBeats": 0.0,
                                               "gain": 1.0, "artifactId": ""}, timeout=30, retries=0)
    await asyncio.sleep(0.6)  # chaosgarden has opened the FIFO
    await transport(control, "play")
    await until(lambda: reader.messages())
    listed = (await control.request("timelineList", timeout=10, retries=0)).value
    assert [r["id"] for r in listed["regions"]] == ["held"]
    await control.request("timelineRemove", "held", timeout=10, retries=0)
    await until(lambda: len(reader.messages()) >= 2)  # its own note-off is 1000 beats away
    reader.done.set()
    assert [m for _t, m in reader.messages()] == [bytes((0x90, 64, 90)), bytes((0x80, 64, 0))]
    assert (await control.request("timelineList", timeout=10, retries=0)).value["regions"] == []
    await transport(control, "stop")


async def test_auditions_to_made_up_ports_leave_no_threads(config, short_tmp):
    """Found by the fuzz scenario: an audition naming a new port started a MIDI thread for good (with a locked 8 MB
    stack) even when its content did not load, and a name too long for the filesystem was an internal error."""
    player = Player(config.rt, SampleClock(RATE), TempoMap(RATE))
    write_smf(short_tmp / "one.mid", [0])
    (short_tmp / "junk.mid").write_bytes(b"junk")

    def audition(content, port):
        return player.audition(Audition(content_path=str(content), mime="audio/midi", midi_out=str(port)))

    for n in range(3):
        with pytest.raises(RequestError, match="not a readable Standard MIDI File"):
            await audition(short_tmp / "junk.mid", short_tmp / f"port-{n}")
        with pytest.raises(RequestError, match="does not exist"):
            await audition(short_tmp / "one.mid", short_tmp / f"port-{n}")
    with pytest.raises(RequestError) as info:
        await audition("/" + "p" * 5000, short_tmp / "port-0")
    assert info.value.code == "notFound"
    assert player.midi_outs == {}
