"""The simulated Eurorack through a real chaosgarden: exact samples, and a true timeline across a stall."""

import asyncio
import os
import signal

import numpy as np

from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from tests.support.garden import audio_definition, until

RATE = 48000


async def record(control, uri, seconds, fmt="s16", stall=None):
    await control.start(audio_definition(uri, "sim", fmt, chunk=8192, period=480), spares=3)
    rec = control.streams[uri]
    if stall is not None:
        await until(lambda: rec.heads and rec.heads[-1]["samplePosition"] > RATE // 4)
        await stall()
    target = int(seconds * RATE)
    await until(lambda: rec.heads and rec.heads[-1]["samplePosition"] >= target)
    await control.stop(uri)
    return rec


async def test_sim_samples_are_exact(control):
    uri = "stream://sim/exact"
    await record(control, uri, 0.5, fmt="s24")
    data = control.recording(uri)
    frames = len(data) // 6
    assert frames >= RATE // 2
    assert data == sim_frames(0, frames, RATE, 2, SampleFormat.S24)


async def test_a_stalled_process_gets_an_xrun_and_keeps_its_timeline(control, garden):
    """SIGSTOP chaosgarden for 0.6 s: the sim device overruns, the gap is silence, nothing shifts."""
    uri = "stream://sim/stall"

    async def stall():
        os.kill(garden.pid, signal.SIGSTOP)
        await asyncio.sleep(0.6)
        os.kill(garden.pid, signal.SIGCONT)

    rec = await record(control, uri, 1.5, stall=stall)
    xruns = [e for e in rec.errors if e["kind"] == "xrun"]
    assert len(xruns) == 1, rec.errors
    lost = xruns[0]["lostSamples"]
    assert lost > 0 and xruns[0]["recoverable"]
    data = np.frombuffer(control.recording(uri), dtype="<i2").reshape(-1, 2)
    expected = np.frombuffer(sim_frames(0, len(data), RATE, 2, SampleFormat.S16), dtype="<i2").reshape(-1, 2)
    silent = np.all(data == 0, axis=1)
    differs = np.any(data != expected, axis=1)
    # Every frame is either the simulated patch at its own timeline position, or gap silence.
    assert not np.any(differs & ~silent)
    where = np.flatnonzero(differs)
    first, last = int(where[0]), int(where[-1])
    # One gap as long as the xrun says (an edge frame may be silent in the patch itself).
    assert lost - 2 <= last - first + 1 <= lost
    assert np.all(silent[first : last + 1])
    assert xruns[0]["clock"]["samplePosition"] >= first
