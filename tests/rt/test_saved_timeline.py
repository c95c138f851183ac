"""What chaosgarden saves of its timeline, and what it makes of a saved file it cannot fully use."""

import asyncio
import logging

import numpy as np
import soundfile as sf

from appliance.proto.timeline_messages import TimelineContents, TimelineRegion, TimelineSnapshot
from appliance.proto.transport_messages import Marker, TransportCommand, TransportStateChanged
from appliance.rt import saved_timeline
from appliance.rt.beat_clock import SampleClock
from appliance.rt.saved_timeline import SavedTimeline
from appliance.rt.timekeeper import SAVED_FILE, Timekeeper


async def started(config):
    keeper = Timekeeper(config, SampleClock(config.capture.sample_rate))
    await keeper.start()
    if keeper._restoring is not None:
        await keeper._restoring
    return keeper


async def contents(keeper):
    return (await keeper.contents(None)).value


async def test_a_restart_puts_back_tempo_markers_and_regions(config, short_tmp):
    sf.write(short_tmp / "a.wav", np.zeros((480, 2), dtype=np.float32), 48000)
    first = await started(config)
    try:
        await first.transport_command(TransportCommand(verb="tempo", argument=90.0))
        await first.transport_command(TransportCommand(verb="seek", argument=12.0))
        await first.marker(Marker(name="bridge", beat=16.0, metadata_json="{}"))
        await first.schedule(TimelineRegion(region_id="r1", content_path=str(short_tmp / "a.wav"), mime="audio/wav",
                                            at_beat=4.0, duration_beats=2.0, gain=0.5, artifact_id="art-1"))
        saved = await contents(first)
    finally:
        first.stop()
    second = await started(config)
    try:
        assert await contents(second) == saved
        status = (await second.transport_command(TransportCommand(verb="status"))).value
        assert (status.state, status.beat, status.tempo_bpm) == ("stopped", 12.0, 90.0)
    finally:
        second.stop()


async def test_a_region_whose_content_is_gone_is_dropped_and_logged(config, short_tmp, caplog):
    first = await started(config)
    try:
        for region_id, at in (("kept", 1.0), ("lost", 2.0)):
            path = short_tmp / f"{region_id}.wav"
            sf.write(path, np.zeros((480, 2), dtype=np.float32), 48000)
            await first.schedule(TimelineRegion(region_id=region_id, content_path=str(path), mime="audio/wav",
                                                at_beat=at, duration_beats=0.0, gain=1.0,
                                                artifact_id=f"art-{region_id}"))
    finally:
        first.stop()
    (short_tmp / "lost.wav").unlink()
    with caplog.at_level(logging.WARNING):
        second = await started(config)
    second.stop()
    assert [r.region_id for r in (await contents(second)).regions] == ["kept"]
    assert any("lost (art-lost)" in r.getMessage() and "not a readable file" in r.getMessage()
               for r in caplog.records)
    saved = SavedTimeline(config.data_dir / SAVED_FILE).load()
    assert [r.region_id for r in saved.timeline.regions] == ["kept"]  # saved again without it


async def test_an_unreadable_file_is_kept_aside_and_the_timeline_starts_empty(config, caplog):
    path = config.data_dir / SAVED_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00\x01 not cap'n proto")
    with caplog.at_level(logging.ERROR):
        keeper = await started(config)
    keeper.stop()
    assert await contents(keeper) == TimelineContents(regions=(), markers=())
    assert path.with_suffix(".unreadable").read_bytes() == b"\x00\x01 not cap'n proto"
    assert any("timeline.bin" in r.getMessage() and "empty timeline" in r.getMessage() for r in caplog.records)


async def test_saves_that_pile_up_become_one_write_of_the_newest(short_tmp, monkeypatch):
    """Found by the fuzz scenario: each command queued its own fsync'd write of the whole timeline, holding a copy
    of it meanwhile (0.7 MB once the fuzz had made its markers)."""
    writes = []
    write = saved_timeline._write_atomically
    monkeypatch.setattr(saved_timeline, "_write_atomically",
                        lambda path, data: (writes.append(data), write(path, data)))
    saved = SavedTimeline(short_tmp / "timeline.bin")
    snapshots = [snapshot(float(n)) for n in range(50)]
    await asyncio.gather(*(saved.save(s) for s in snapshots))
    assert len(writes) == 2  # the first, then the newest of the 49 that waited for it
    assert saved.load().transport.beat == 49.0
    await saved.save(snapshot(50.0))
    assert len(writes) == 3 and saved.load().transport.beat == 50.0


def snapshot(beat):
    transport = TransportStateChanged(state="stopped", beat=beat, tempo_bpm=120.0, sample=0, monotonic_ns=0,
                                      realtime_ns=0)
    return TimelineSnapshot(transport=transport, timeline=TimelineContents(regions=(), markers=()))
