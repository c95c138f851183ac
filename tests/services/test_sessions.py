"""Capture sessions end to end: segments as windows on real recordings, exported sample-exact."""

import asyncio

import numpy as np
import pytest
import soundfile as sf

from appliance.cas import ContentStore
from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from tests.support.stack import ToolFailed

RATE = 48000
URI = "stream://eurorack/main"


@pytest.fixture
async def box(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    await tools.call("stream_create", uri=URI, device="sim", sample_format="s16", chunk_samples=9000)
    return tools


async def until_head(tools, frames):
    for _ in range(600):
        status = (await tools.call("stream_status", uri=URI))["streams"][0]
        if status["head_sample"] >= frames:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(frames)


async def test_segments_export_and_session_time_points(box, stack):
    tools = box
    session = (await tools.call("session_create", streams=[URI], name="night"))["session"]
    status = await tools.call("session_play", session=session)
    assert status["status"] == "Recording"
    await until_head(tools, RATE)
    await tools.call("session_play", session=session)  # closes segment 1, opens segment 2
    await until_head(tools, 2 * RATE)
    stopped = await tools.call("session_stop", session=session)
    assert stopped["status"] == "Stopped"
    seg1, seg2 = stopped["segments"]
    e1, e2 = seg1["streams"][URI], seg2["streams"][URI]
    assert e1["start_sample"] < e1["end_sample"] == e2["start_sample"] < e2["end_sample"]
    assert (await tools.call("stream_status", uri=URI))["streams"][0]["state"] == "stopped"  # the session started it

    artifact = await tools.call("artifact_get", artifact_id=stopped["artifact_id"])
    assert artifact["mime"] == "application/vnd.studio.session+json" and artifact["content_hash"] is None
    assert artifact["metadata"]["streams"][URI]["manifest_hash"]

    exported = await tools.call("session_export", session=session, segment=2)
    (file,) = exported["files"]
    assert file["sample_range"] == [e2["start_sample"], e2["end_sample"]]
    store = ContentStore(stack.data_dir / "cas")
    data, rate = sf.read(store.path(file["content_hash"]), dtype="int16")
    expected = np.frombuffer(sim_frames(e2["start_sample"], e2["end_sample"] - e2["start_sample"], RATE, 2,
                                        SampleFormat.S16), dtype="<i2").reshape(-1, 2)
    assert rate == RATE and np.array_equal(data, expected)

    whole = await tools.call("stream_slice", uri=URI, start={"session_start": {"session": session}},
                             end={"session_end": {"session": session}})
    assert whole["sample_range"] == [e1["start_sample"], e2["end_sample"]]


async def test_session_errors_name_what_is_wrong(box):
    tools = box
    with pytest.raises(ToolFailed, match=r"no stream 'stream://nope/x'"):
        await tools.call("session_create", streams=["stream://nope/x"])
    with pytest.raises(ToolFailed, match=r"needs midi_out and audio_in"):
        await tools.call("session_create", streams=[URI], mode="request_response")
    with pytest.raises(ToolFailed, match=r"streams: .*at least 1 item"):
        await tools.call("session_create", streams=[])
    with pytest.raises(ToolFailed, match=r"mode: Input should be 'passive' or 'request_response'"):
        await tools.call("session_create", streams=[URI], mode="loud")
    session = (await tools.call("session_create", streams=[URI]))["session"]
    with pytest.raises(ToolFailed, match=r"not recording \(play it first\)"):
        await tools.call("session_stop", session=session)
    with pytest.raises(ToolFailed, match=r"no session 'ses-missing'"):
        await tools.call("session_status", session="ses-missing")
    await tools.call("session_play", session=session)
    with pytest.raises(ToolFailed, match=r"segment 7 does not exist"):
        await tools.call("session_export", session=session, segment=7)
    with pytest.raises(ToolFailed, match=r"still open"):
        await tools.call("session_export", session=session, segment=1)
    await tools.call("session_stop", session=session)
