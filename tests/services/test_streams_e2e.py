"""Streams end to end: real chaosgarden, real hootenanny, tools over ZMQ, sealed chunks checked sample by sample."""

import asyncio

import pytest

from appliance.cas import ContentStore
from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from appliance.services import manifest as manifests
from tests.support.stack import ToolFailed

RATE = 48000


async def wait_for(tools, uri, predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = (await tools.call("stream_status", uri=uri))["streams"][0]
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{uri}: {status}")
        await asyncio.sleep(0.05)


def recorded(stack, uri) -> tuple[bytes, manifests.Manifest]:
    import sqlite3

    db = sqlite3.connect(stack.data_dir / "hootenanny" / "catalog.db")
    path, = db.execute("SELECT manifest_path FROM streams WHERE uri=?", (uri,)).fetchone()
    manifest = manifests.read(__import__("pathlib").Path(path))
    store = ContentStore(stack.data_dir / "cas")
    data = b"".join(store.path(c.digest).read_bytes() for c in manifest.chunks)
    return data, manifest


async def test_record_sim_stream_and_stop(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/main"
    created = await tools.call("stream_create", uri=uri, device="sim", sample_format="s16", chunk_samples=4800)
    assert created["definition"]["sample_format"] == "s16" and len(created["definition_hash"]) == 64
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["chunks_sealed"] >= 5)
    status = (await tools.call("stream_stop", uri=uri))
    assert status["state"] == "stopped" and status["xruns"] == 0
    data, manifest = recorded(stack, uri)
    assert manifest.state == "stopped" and manifest.live is None
    assert [c.first_sample for c in manifest.chunks] == [i * 4800 for i in range(len(manifest.chunks) - 1)] + \
        [manifest.chunks[-1].first_sample]
    assert data == sim_frames(0, len(data) // 4, RATE, 2, SampleFormat.S16)
    assert status["head_sample"] == len(data) // 4
    assert (stack.data_dir / "cas").exists()


async def test_bad_arguments_name_the_field(stack, tools):
    stack.start("hootenanny")
    with pytest.raises(ToolFailed, match=r"stream_create: sample_format: Input should be 's16', 's24'"):
        await tools.call("stream_create", uri="stream://a/b", device="sim", sample_format="s8")
    with pytest.raises(ToolFailed, match=r"uri: .*stream://<name>/<part>"):
        await tools.call("stream_create", uri="http://x", device="sim")
    with pytest.raises(ToolFailed, match=r"no stream 'stream://nope/x'"):
        await tools.call("stream_start", uri="stream://nope/x")
    with pytest.raises(ToolFailed, match=r"colour: unknown field"):
        await tools.call("stream_status", colour="red")


async def test_start_without_chaosgarden_is_a_clear_error(stack, tools):
    stack.env["STUDIO_WIRE_REQUEST_TIMEOUT_SECONDS"] = "1"
    stack.start("hootenanny")
    await tools.call("stream_create", uri="stream://e/m", device="sim")
    with pytest.raises(ToolFailed, match="chaosgarden refused stream://e/m: .*no reply"):
        await tools.call("stream_start", uri="stream://e/m")
    status = (await tools.call("stream_status", uri="stream://e/m"))["streams"][0]
    assert status["state"] != "recording"


async def test_slice_seconds_ago_to_now_is_sample_exact(stack, tools):
    import soundfile as sf

    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/main"
    await tools.call("stream_create", uri=uri, device="sim", sample_format="s24", chunk_samples=9600)
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["head_sample"] >= 3 * RATE)
    result = await tools.call("stream_slice", uri=uri, start={"seconds_ago": 2}, end="now", tags=["test"])
    start, end = result["sample_range"]
    assert 1.8 * RATE < end - start < 2.2 * RATE
    assert len(result["source_chunks"]) >= 2  # distinct digests: the sim patch repeats every second
    path = ContentStore(stack.data_dir / "cas").path(result["content_hash"])
    data, rate = sf.read(path, dtype="int32")
    assert rate == RATE and data.shape == (end - start, 2)
    import numpy as np

    raw = np.frombuffer(sim_frames(start, end - start, RATE, 2, SampleFormat.S24), dtype=np.uint8).reshape(-1, 3)
    expected = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16)
    expected = ((expected << 8) >> 8) << 8  # sign-extend 24 bits; soundfile reads PCM_24 left-aligned in int32
    assert np.array_equal(data.reshape(-1), expected)
    listed = await tools.call("artifact_list", tag="test")
    assert listed["artifacts"][0]["id"] == result["artifact_id"]
    got = await tools.call("artifact_get", artifact_id=result["artifact_id"])
    assert got["metadata"]["lineage"]["sample_range"] == [start, end]
    await tools.call("stream_stop", uri=uri)
    with pytest.raises(ToolFailed, match=r"start: .*outside the recording"):
        await tools.call("stream_slice", uri=uri, start={"sample": 10**12}, end="now")
    with pytest.raises(ToolFailed, match=r"seconds_ago"):
        await tools.call("stream_slice", uri=uri, start={"seconds_ago": -1})
