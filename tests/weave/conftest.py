"""Fixtures: a test hootenanny (real sockets) and vibeweaver served in this process against it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from appliance.config import load_config
from appliance.weave.main import serve
from tests.weave.hootenanny_peer import HootenannyPeer


@pytest.fixture
def cell_timeout() -> str:
    """Seconds a cell may run; generous (a hang guard) unless a test is about interrupting."""
    return "20"


@pytest.fixture
def weave_config(short_tmp, cell_timeout):
    return load_config(files=(), environ={"STUDIO_DATA_DIR": str(short_tmp / "data"),
                                          "STUDIO_RUN_DIR": str(short_tmp / "run"),
                                          "STUDIO_WEAVE_CELL_TIMEOUT_SECONDS": cell_timeout})


@pytest.fixture
async def peer(weave_config):
    hoot = HootenannyPeer(weave_config.runtime_dir)
    await hoot.start()
    yield hoot
    await hoot.close()


@pytest.fixture
async def weave(peer, weave_config):
    """vibeweaver serving in this process, registered with `peer`; stopped cleanly afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(weave_config, stop))
    await asyncio.wait({task, asyncio.ensure_future(peer.wait_ready())}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    yield peer
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 20)


async def synced(peer: HootenannyPeer) -> None:
    """Wait until vibeweaver's SUB socket receives broadcasts (a slow joiner misses the first ones)."""
    async def seen() -> bool:
        return (await peer.eval("transport.tempo"))["result"] == "119.5"

    await peer.publish_until(lambda: peer.publish("transport.changed", "transportStateChanged", {
        "state": "stopped", "beat": 0.0, "tempoBpm": 119.5, "samplePosition": 0, "monotonicNs": 0,
        "realtimeNs": 0}), seen)
