"""Retention releases old chunks except those a slice or session needs; `studio cas gc` removes the rest."""

import asyncio
import json
import subprocess
import sys

import pytest

from appliance.cas import ContentStore
from tests.services.test_streams_e2e import wait_for
from tests.support.stack import ToolFailed

URI = "stream://eurorack/main"


def studio(stack, *args):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], env=stack.env, capture_output=True,
                          text=True, timeout=120)


async def test_retention_keeps_what_is_referenced_and_gc_removes_the_rest(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    # 7000 frames do not divide the sim patch's one-second loop, so every chunk has its own digest.
    await tools.call("stream_create", uri=URI, device="sim", sample_format="s16", chunk_samples=7000)
    await tools.call("stream_start", uri=URI)
    await wait_for(tools, URI, lambda s: s["chunks_sealed"] >= 14)
    kept_slice = await tools.call("stream_slice", uri=URI, start={"sample": 100}, end={"sample": 6000})
    before = (await tools.call("stream_status", uri=URI))["streams"][0]

    released = await tools.call("stream_retention", uri=URI, keep_gib=0.00001)  # about 10 KiB: almost nothing
    assert released["released_chunks"] >= before["chunks_sealed"] - 3
    after = (await tools.call("stream_status", uri=URI))["streams"][0]
    assert after["chunks_sealed"] < before["chunks_sealed"]
    again = await tools.call("stream_slice", uri=URI, start={"sample": 100}, end={"sample": 6000})
    assert again["content_hash"] == kept_slice["content_hash"]  # the referenced chunk stayed
    with pytest.raises(ToolFailed, match=r"are in no chunk: released by the stream.s retention policy"):
        await tools.call("stream_slice", uri=URI, start={"sample": 30000}, end={"sample": 40000})
    await tools.call("stream_stop", uri=URI)

    dry = studio(stack, "cas", "gc", "--dry-run", "--grace", "0", "--json")
    assert dry.returncode == 0, dry.stderr
    would = json.loads(dry.stdout)
    assert len(would["removed"]) >= released["released_chunks"] - 1
    store = ContentStore(stack.data_dir / "cas")
    assert all(store.exists(d) for d in would["removed"])  # a dry run removes nothing

    real = studio(stack, "cas", "gc", "--grace", "0", "--json")
    report = json.loads(real.stdout)
    assert report["removed"] == would["removed"]
    assert not any(store.exists(d) for d in report["removed"])
    assert studio(stack, "cas", "verify").returncode == 0
    third = await tools.call("stream_slice", uri=URI, start={"sample": 100}, end={"sample": 6000})
    assert third["content_hash"] == kept_slice["content_hash"]
    young = json.loads(studio(stack, "cas", "gc", "--json").stdout)
    assert young["removed"] == []


async def test_retention_arguments_are_checked(stack, tools):
    stack.start("hootenanny")
    await tools.call("stream_create", uri=URI, device="sim")
    with pytest.raises(ToolFailed, match="give keep_hours, keep_gib or both"):
        await tools.call("stream_retention", uri=URI)
    with pytest.raises(ToolFailed, match="keep_hours: Input should be greater than 0"):
        await tools.call("stream_retention", uri=URI, keep_hours=-1)
    assert asyncio is not None
