"""Broadcasts keep KernelState current between evals; the state is snapshotted and restored."""

import asyncio
import contextlib

from appliance.weave.main import serve
from tests.weave.conftest import synced


def tick(peer, beat, tempo=120.0):
    peer.beat(beat, tempo)


async def wait_eval(peer, code, expected):
    """Evaluate until the result is `expected` (broadcasts arrive asynchronously); a hang guard bounds it."""
    async with asyncio.timeout(10):
        while (await peer.eval(code))["result"] != expected:
            await asyncio.sleep(0.01)


async def test_broadcasts_update_state_between_evals(weave):
    await synced(weave)
    assert (await weave.eval("float(beat)"))["result"] == "0.0"
    tick(weave, 17.0, 133.0)
    await wait_eval(weave, "float(beat), transport.tempo", "(17.0, 133.0)")
    weave.publish("transport.changed", "transportStateChanged", {
        "state": "playing", "beat": 18.0, "tempoBpm": 133.0, "samplePosition": 0, "monotonicNs": 0,
        "realtimeNs": 0})
    await wait_eval(weave, "transport.state, transport.playing, beat + 1", "('playing', True, 19.0)")


async def test_recent_artifacts_are_capped_and_jobs_tracked(weave):
    await synced(weave)
    for i in range(120):
        weave.publish("artifact.created", "artifactCreated", {"artifactId": f"a{i}", "contentHash": "", "mime":
                                                              "audio/wav", "tags": ["t"], "parentId": ""})
    weave.publish("job.running", "jobEvent", {"jobId": "j1", "state": "running", "space": "pattern",
                                              "artifactId": "", "error": "", "progress": 0.5})
    await wait_eval(weave, "len(artifacts()), artifacts()[-1].id, artifacts()[0].id", "(100, 'a119', 'a20')")
    summary_ok = False
    async with asyncio.timeout(10):
        while not summary_ok:
            summary = (await weave.call("weave_session"))["structured"]
            summary_ok = summary["jobs"] == [{"id": "j1", "state": "running", "space": "pattern",
                                              "artifact_id": "", "error": ""}]
            await asyncio.sleep(0.01)
    assert summary["recent_artifacts"][-1]["id"] == "a119"


async def test_failed_job_raises_in_the_awaiting_cell(weave):
    await synced(weave)
    out = await weave.eval("await sample('pattern', 'please fail')")
    assert not out["success"]
    assert "SampleError" in out["error"] and "the generator gave up" in out["error"]
    ok = await weave.eval("a = await sample('pattern', 'kick', tags=['drums'])\na.id.startswith('art-'), a.tags")
    assert ok["result"] == "(True, ('drums',))", ok["error"]


async def test_unknown_space_is_refused_at_the_call(weave):
    out = await weave.eval("sample('gpu-land', 'x')")
    assert "space must be one of capture, pattern; got 'gpu-land'" in out["error"]


async def test_state_snapshot_survives_a_restart(peer, weave_config):
    stop = asyncio.Event()
    task = asyncio.create_task(serve(weave_config, stop))
    await peer.wait_ready()
    await synced(peer)
    tick(peer, 42.0, 101.0)
    await wait_eval(peer, "float(beat), transport.tempo", "(42.0, 101.0)")
    stop.set()
    await asyncio.wait_for(task, 20)

    stop = asyncio.Event()
    task = asyncio.create_task(serve(weave_config, stop))
    await peer.wait_ready(2)
    # No broadcast since the restart: this comes from the sqlite snapshot.
    assert (await peer.eval("float(beat), transport.tempo"))["result"] == "(42.0, 101.0)"
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 20)
