"""kill -9 of chaosgarden while the transport plays: tempo, markers, regions and the position come back.

The playback PCM is the ALSA `file` plugin over `null`, paced by
CLOCK_MONOTONIC, so byte n of its output file is clock sample n of the
chaosgarden that wrote it: a region restored after the restart can be found
at its exact sample.
"""

import asyncio

import numpy as np
import pytest

from tests.services.test_transport import Events, wav_in_cas
from tests.support.garden import until
from tests.support.stack import ToolClient, ToolFailed

RATE = 48000
FRAME = 8  # stereo s32
PER_BEAT = 12000  # samples per beat at 240 bpm


@pytest.fixture
def stack_env(short_tmp):
    home = short_tmp / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.studioplay {{\n type file\n slave.pcm "null"\n file "{short_tmp / "out.raw"}"\n format "raw"\n}}\n')
    return {"HOME": str(home), "STUDIO_RT_PLAYBACK_DEVICE": "studioplay", "STUDIO_RT_PLAYBACK_CLOCK": "monotonic",
            "STUDIO_RT_PLAYBACK_PERIOD_FRAMES": "256"}


def out_samples(short_tmp):
    raw = (short_tmp / "out.raw").read_bytes()
    return np.frombuffer(raw[: len(raw) // FRAME * FRAME], dtype="<i4").reshape(-1, 2)


async def answered(tools, tool, **arguments):
    """The tool's result once chaosgarden answers again (hootenanny's line to it reconnects by itself)."""
    while True:
        try:
            return await tools.call(tool, **arguments)
        except ToolFailed as exc:
            if "unavailable" not in exc.text:
                raise
            await asyncio.sleep(0.1)


async def test_kill_chaosgarden_resumes_the_timeline_where_it_would_be(stack, short_tmp):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    tools = ToolClient(stack.run_dir)
    try:
        wav = await tools.call("artifact_register", content_hash=wav_in_cas(stack), mime="audio/wav")
        await tools.call("transport_tempo", bpm=240)
        kept = await tools.call("timeline_schedule", artifact_id=wav["artifact_id"], at=1000, gain=0.5)
        gone = await tools.call("timeline_schedule", artifact_id=wav["artifact_id"], at=500)
        await tools.call("timeline_remove", region_id=gone["region_id"])
        await tools.call("timeline_marker", name="drop", beat=1001, metadata={"energy": "high"})
        await tools.call("transport_seek", beat=100)
        await tools.call("transport_play")
        before = await tools.call("transport_status")
        timeline = await tools.call("timeline_list")
        assert [r["region_id"] for r in timeline["regions"]] == [kept["region_id"]]

        stack.kill("chaosgarden")  # SIGKILL: nothing is saved on the way out
        stack.start("chaosgarden")
        after = await answered(tools, "transport_status")
        assert after["state"] == "playing" and after["tempoBpm"] == 240.0
        # It played on while it was away: the beat is where the old tempo map puts it now.
        away_s = (after["realtimeNs"] - before["realtimeNs"]) / 1e9
        assert after["beat"] == pytest.approx(before["beat"] + away_s * 4, abs=0.01)
        assert await tools.call("timeline_list") == timeline

        events = Events(stack.run_dir)
        try:
            await asyncio.sleep(0.3)  # the subscription reaches the PUB socket
            sought = await tools.call("transport_seek", beat=999)
            start = sought["samplePosition"] + PER_BEAT  # the restored region, one beat later
            await until(lambda: len(out_samples(short_tmp)) > start + 6000)
            out = out_samples(short_tmp)
            first = int(np.flatnonzero(out[:, 0])[0])
            assert abs(first - start) <= 1
            assert np.allclose(out[first + 2 : first + 4798] / (2**31 - 1), 0.125, atol=1e-6)  # 0.25 at gain 0.5
            await until(lambda: events.of("markerReached"))
            (marker,) = events.of("markerReached")
            assert marker["name"] == "drop" and marker["beat"] == 1001.0 and "high" in marker["metadataJson"]
        finally:
            events.close()
        await tools.call("transport_stop")
    finally:
        tools.close()
