"""The simulated Eurorack through a real chaosgarden: exact samples, and a true timeline across a stall."""

import asyncio
import os
import signal

import pytest

from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from tests.support.garden import audio_definition, until

RATE = 48000


async def record(control, uri, seconds, fmt="s16", stall=None):
    await control.start(audio_definition(uri, "sim", fmt, chunk=8192, period=480), spares=3)
    rec = control.streams[uri]
    if stall is not None:
        await until(lambda: rec.heads and rec.heads[-1].sample > RATE // 4)
        await stall()
    target = int(seconds * RATE)
    await until(lambda: rec.heads and rec.heads[-1].sample >= target)
    await control.stop(uri)
    return rec


def expected_with_gaps(frames: int, fmt: SampleFormat, xruns: list[dict]) -> bytes:
    """The patch at every timeline position, with silence where each xrun says it lost frames."""
    frame_bytes = 2 * fmt.bytes_per_sample
    expected = bytearray(sim_frames(0, frames, RATE, 2, fmt))
    for xrun in xruns:
        end = xrun.clock.sample
        expected[(end - xrun.lost_samples) * frame_bytes : end * frame_bytes] = bytes(xrun.lost_samples * frame_bytes)
    return bytes(expected)


async def test_sim_samples_are_exact(control):
    uri = "stream://sim/exact"
    rec = await record(control, uri, 0.5, fmt="s24")
    data = control.recording(uri)
    frames = len(data) // 6
    assert frames >= RATE // 2
    # A loaded machine may overrun even the simulated card; each xrun must say exactly where.
    xruns = [e for e in rec.errors if e["kind"] == "xrun"]
    assert data == expected_with_gaps(frames, SampleFormat.S24, xruns)


async def test_a_stalled_process_gets_an_xrun_and_keeps_its_timeline(control, garden):
    """SIGSTOP chaosgarden for 0.6 s: the sim device overruns, the gap is silence, nothing shifts."""
    uri = "stream://sim/stall"

    async def stall():
        os.kill(garden.pid, signal.SIGSTOP)
        await asyncio.sleep(0.6)
        os.kill(garden.pid, signal.SIGCONT)

    rec = await record(control, uri, 1.5, stall=stall)
    xruns = [e for e in rec.errors if e.kind == "xrun"]
    assert xruns and all(e.recoverable for e in xruns), rec.errors
    lost = sum(e.lost_samples for e in xruns)
    assert lost > 0.3 * RATE  # the stall itself; a loaded machine may add short xruns of its own
    data = control.recording(uri)
    assert data == expected_with_gaps(len(data) // 4, SampleFormat.S16, xruns)


@pytest.mark.parametrize("garden_env", [{"STUDIO_RT_HEAD_INTERVAL_MS": "5000"}])
async def test_a_run_announces_its_head_before_its_first_chunk(control, garden_env):
    """hootenanny takes a run's start clock from its first head; chunks that fill before the next periodic
    head (here 85 ms chunks against a 5 s head interval) must not overtake it."""
    uri = "stream://sim/small-chunks"
    await asyncio.sleep(0.5)  # past the periodic head chaosgarden publishes as it starts
    await control.start(audio_definition(uri, "sim", "s16", chunk=4096, period=512))
    rec = control.streams[uri]
    await until(lambda: len(rec.sealed) >= 2)
    assert "streamHeadPosition" in rec.kinds
    assert rec.kinds.index("streamHeadPosition") < rec.kinds.index("streamChunkFull"), rec.kinds[:5]
    await control.stop(uri)
