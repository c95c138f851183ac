"""Device loss, injected around a real source: the timeline keeps its length, the gap is silence."""

import threading
import time
from pathlib import Path

import numpy as np

from appliance.proto.stream_definition import SampleFormat
from appliance.rt.capture import AudioCapture
from appliance.rt.chunk_writer import ChunkWriter, MappedChunk
from appliance.rt.overflow_ring import OverflowRing
from appliance.rt.sim_source import SimAudioSource, sim_frames
from appliance.rt.sources import NS, AudioSpec, DeviceLost
from tests.support.garden import wait_until

RATE, PERIOD = 48000, 480
SPEC = AudioSpec("sim", RATE, 2, SampleFormat.S16, PERIOD)


class Unplugged(SimAudioSource):
    """The simulated card, pulled out after `at_period` periods and refused until `plug_in` is set."""

    buffer_periods = 200  # two seconds: a loaded test machine delays reads, but this test is about unplugging

    def __init__(self, at_period: int) -> None:
        super().__init__(SPEC)
        self.at_period = at_period
        self.reads = 0
        self.plug_in = threading.Event()
        self.opens: list[int] = []  # monotonic time of each successful open
        self.lost_after_ns = 0

    def open(self) -> None:
        if self.opens and not self.plug_in.is_set():
            raise DeviceLost("no such device")
        super().open()
        self.opens.append(self._t0)

    def read(self):
        self.reads += 1
        if self.reads == self.at_period:
            self.lost_after_ns = self.last_end_ns
            raise DeviceLost("ALSA PCM 'sim': No such device")
        return super().read()


def device_events(capture: AudioCapture) -> list[str]:
    """The device's comings and goings; a loaded machine may add xruns of the paced source in between."""
    return [e.kind for e in capture.events if e.kind != "xrun"]


def test_unplug_and_replug_keeps_the_timeline(tmp_path):
    source = Unplugged(at_period=20)
    writer = ChunkWriter(frame_bytes=4, ring=OverflowRing(RATE * 4))
    writer.spares.extend(MappedChunk.prepare(tmp_path / f"c{i}", RATE * 4, i) for i in range(4))
    capture = AudioCapture("t", source, writer, RATE, 4, PERIOD, priority=1)
    source.open()
    capture.start()
    wait_until(lambda: not capture.connected)
    time.sleep(0.5)  # the device stays away; silence keeps the timeline moving
    assert capture.head.load().sample > 19 * PERIOD
    source.plug_in.set()
    capture.device_hint.set()  # what udev's "added" does through hootenanny
    wait_until(lambda: capture.connected and writer.samples_in_files > 19 * PERIOD + RATE // 2 + 10 * PERIOD)
    capture.stop()
    capture.join()
    assert device_events(capture) == ["deviceLost", "deviceBack"]

    final = writer.finish()
    data = b"".join(f.chunk.map[: f.bytes_written] for f in [*writer.full, final])
    frames = np.frombuffer(data, dtype="<i2").reshape(-1, 2)
    loss_at = 19 * PERIOD
    before = sim_frames(0, loss_at, RATE, 2, SampleFormat.S16)
    assert data[: loss_at * 4] == before
    # Where the replugged card's first frame belongs: its own clock against the last frame before.
    resume_at = loss_at + round((source.opens[-1] - source.lost_after_ns) * RATE / NS)
    assert np.all(frames[loss_at:resume_at] == 0)
    after = frames[resume_at:]
    expected = np.frombuffer(sim_frames(0, len(after), RATE, 2, SampleFormat.S16), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(after, expected)


def test_udev_removal_stops_reading_until_the_device_is_added(tmp_path):
    """A driver may go on returning periods after its device left; udev's word is taken over them."""
    source = SimAudioSource(SPEC)
    writer = ChunkWriter(frame_bytes=4, ring=OverflowRing(RATE * 4))
    writer.spares.extend(MappedChunk.prepare(tmp_path / f"c{i}", RATE * 4, i) for i in range(4))
    capture = AudioCapture("t", source, writer, RATE, 4, PERIOD, priority=1)
    source.open()
    capture.start()
    wait_until(lambda: capture.head.load().sample > 5 * PERIOD)
    capture.unplug()
    wait_until(lambda: not capture.connected)
    time.sleep(1.2)  # past two periodic reopen attempts: the readable source is left alone
    assert not capture.connected
    capture.plug()
    wait_until(lambda: capture.connected)
    capture.stop()
    capture.join()
    assert device_events(capture) == ["deviceLost", "deviceBack"]
    assert "removed (udev)" in next(e.message for e in capture.events if e.kind == "deviceLost")


def test_a_device_event_names_the_streams_on_that_card():
    from appliance.config import RtConfig
    from appliance.proto.stream_definition import StreamDefinition, StreamKind
    from appliance.proto.stream_messages import DeviceNotice
    from appliance.rt.stream import CaptureStream

    def uses(device: str, device_id: str, alsa_name: str) -> bool:
        definition = StreamDefinition(uri="stream://a/b", device=device)
        notice = DeviceNotice(device_id=device_id, action="removed", kind=StreamKind.AUDIO, alsa_name=alsa_name,
                              dev_path="")
        return CaptureStream(definition, RtConfig(), emergency_chunk=Path).uses_device(notice)

    es9 = ("ES9", "hw:CARD=ES9,DEV=0")
    assert uses("hw:CARD=ES9,DEV=0", *es9) and uses("plughw:ES9", *es9) and uses("hw:ES9,1", *es9)
    assert not uses("hw:CARD=ES8,DEV=0", *es9) and not uses("sim", *es9)
    assert uses("studiotest", "x", "studiotest")
