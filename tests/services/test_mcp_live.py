"""MCP live state over real HTTP: resources and their update notifications, slice pictures, slice progress."""

import asyncio
import base64
import io
import json
import warnings
from contextlib import asynccontextmanager

import httpx2
import numpy as np
import pytest
import soundfile as sf
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ImageContent, ResourceUpdatedNotification
from PIL import Image

from appliance.cas import ContentStore
from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from appliance.services.agent.live_resources import LiveResources
from appliance.services.agent.mcp_endpoint import ProgressRelay
from tests.support.mcp_client import mcp_session

TOKEN = "test-token-live-0123456789abcdef"
RATE = 48000
LIVE = ("studio://streams", "studio://sessions", "studio://transport")
HANG_GUARD_S = 60


@pytest.fixture
def stack_env():
    return {"STUDIO_MCP_TOKEN": TOKEN}


async def _read(client, uri: str) -> dict:
    result = await client.read_resource(uri)
    assert result.contents[0].mime_type == "application/json"
    return json.loads(result.contents[0].text)


async def _record(client, uri: str, kind: str = "audio", seconds: float = 0) -> None:
    created = await client.call_tool("stream_create", {"uri": uri, "device": "sim", "kind": kind,
                                                       "chunk_samples": 9600})
    assert not created.is_error, created.content
    assert not (await client.call_tool("stream_start", {"uri": uri})).is_error
    for _ in range(int(HANG_GUARD_S / 0.05)):
        status = (await client.call_tool("stream_status", {"uri": uri})).structured_content["streams"][0]
        if status["head_sample"] >= seconds * RATE:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{uri} never reached {seconds} s: {status}")


async def test_live_resources_are_listed_and_readable(url):
    async with mcp_session(url, TOKEN) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert set(LIVE) <= set(listed)
        assert all(listed[uri].mime_type == "application/json" and listed[uri].description for uri in LIVE)
        assert await _read(client, "studio://streams") == {"streams": []}
        assert isinstance((await _read(client, "studio://sessions"))["sessions"], list)
        transport = await _read(client, "studio://transport")
        assert {"state", "beat", "tempo_bpm"} <= set(transport)
        await _record(client, "stream://live/read")
        (row,) = (await _read(client, "studio://streams"))["streams"]
        assert row["uri"] == "stream://live/read" and row["state"] == "recording"


async def test_listen_gets_an_update_when_a_stream_starts_recording(url):
    async with mcp_session(url, TOKEN) as client:
        await client.call_tool("stream_create", {"uri": "stream://live/listen", "device": "sim"})
        async with client.listen(resource_subscriptions=["studio://streams"]) as sub:
            assert sub.honored.resource_subscriptions == ["studio://streams"]
            assert not (await client.call_tool("stream_start", {"uri": "stream://live/listen"})).is_error
            states = await asyncio.wait_for(_states_until_recording(client, sub), HANG_GUARD_S)
    assert states[-1] == "recording"


async def _states_until_recording(client, sub) -> list[str]:
    states = []
    async for event in sub:
        assert event.uri == "studio://streams"
        states.append((await _read(client, event.uri))["streams"][0]["state"])
        if states[-1] == "recording":
            return states
    raise AssertionError(f"the listen stream ended after {states}")


async def test_2025_clients_get_updates_through_resources_subscribe(url):
    updates: asyncio.Queue = asyncio.Queue()

    async def on_message(message) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.put_nowait(str(message.params.uri))

    async with _legacy_session(url, on_message) as client:
        assert client.server_capabilities.resources.subscribe
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is the 2025 way, deprecated for 2026 clients
            await client.session.subscribe_resource("studio://streams")
        await _record(client, "stream://live/legacy")
        assert await asyncio.wait_for(updates.get(), HANG_GUARD_S) == "studio://streams"


@asynccontextmanager
async def _legacy_session(url: str, on_message):
    """A client that negotiates a 2025 protocol through the initialize handshake, as most agents still do."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy",
                          message_handler=on_message) as client:
            yield client


async def test_slice_picture_is_a_png_of_the_expected_size(url):
    async with mcp_session(url, TOKEN) as client:
        await _record(client, "stream://live/picture", seconds=1.5)
        result = await client.call_tool("stream_slice", {"uri": "stream://live/picture", "start": {"sample": 0},
                                                         "end": {"sample": RATE}, "picture": True})
        assert not result.is_error, result.content
        (image,) = [c for c in result.content if isinstance(c, ImageContent)]
        assert image.mime_type == "image/png"
        png = Image.open(io.BytesIO(base64.b64decode(image.data)))
        assert png.format == "PNG" and png.size == (800, 300)
        plain = await client.call_tool("stream_slice", {"uri": "stream://live/picture", "start": {"sample": 0},
                                                        "end": {"sample": RATE}})
        assert not [c for c in plain.content if isinstance(c, ImageContent)]


async def test_midi_slice_picture_and_virtual_refusal(url):
    async with mcp_session(url, TOKEN) as client:
        await _record(client, "stream://live/notes", kind="midi", seconds=1)
        result = await client.call_tool("stream_slice", {"uri": "stream://live/notes", "start": {"sample": 0},
                                                         "end": "now", "picture": True})
        assert not result.is_error, result.content
        (image,) = [c for c in result.content if isinstance(c, ImageContent)]
        assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == (800, 300)
        virtual = await client.call_tool("stream_slice", {"uri": "stream://live/notes", "start": {"sample": 0},
                                                          "output": "virtual", "picture": True})
        assert virtual.is_error and "picture" in virtual.content[0].text


async def test_slice_reports_progress(url):
    reports = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total))

    async with mcp_session(url, TOKEN) as client:
        await _record(client, "stream://live/progress", seconds=4)
        result = await client.call_tool("stream_slice", {"uri": "stream://live/progress", "start": {"sample": 0},
                                                         "end": {"sample": 3 * RATE}},
                                        progress_callback=on_progress)
        assert not result.is_error, result.content
    assert reports, "no progress notification arrived"
    assert reports[-1] == (3 * RATE, 3 * RATE)
    assert [p for p, _ in reports] == sorted(p for p, _ in reports)


class _RecordingContext:
    def __init__(self) -> None:
        self.reports: list[tuple[float, float]] = []

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.reports.append((progress, total))


async def test_progress_from_a_worker_thread_is_throttled_in_order_and_ends_with_the_total():
    context = _RecordingContext()
    relay = ProgressRelay(context)
    total = 10_000
    await asyncio.to_thread(lambda: [relay(done, total) for done in range(1, total + 1)])
    await relay.drain()
    assert context.reports[-1] == (total, total)
    assert len(context.reports) < total  # ten a second at most: ten thousand calls cannot all get through
    assert [p for p, _ in context.reports] == sorted(p for p, _ in context.reports)


async def test_live_resources_announce_meaningful_changes_only():
    rows = [{"uri": "stream://a/b", "state": "defined", "head_sample": 0, "chunks_sealed": 0, "last_error": None}]
    live = LiveResources(lambda: [dict(r) for r in rows])
    announced: asyncio.Queue = asyncio.Queue()
    watcher = asyncio.ensure_future(live.watch(announced.put, interval=0.001))
    try:
        for head in range(1, 50):
            rows[0]["head_sample"] = head
            await asyncio.sleep(0.002)
        assert announced.empty()  # only the head moved
        rows[0]["chunks_sealed"] = 1
        assert await asyncio.wait_for(announced.get(), HANG_GUARD_S) == "studio://streams"
        live.use_state(_Playing())
        assert await asyncio.wait_for(announced.get(), HANG_GUARD_S) == "studio://transport"
    finally:
        watcher.cancel()
    assert live.read("studio://transport")["state"] == "playing"
    assert live.read("studio://sessions") == {"sessions": []}


class _Playing:
    def sessions(self) -> dict:
        return {"sessions": []}

    def transport(self) -> dict:
        return {"state": "playing", "beat": 3.5, "tempo_bpm": 120}


async def test_listen_hears_the_tool_list_change_when_vibeweaver_registers(url, stack):
    """An agent that listed tools before vibeweaver came up learns of weave_* without polling."""
    async with mcp_session(url, TOKEN) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        assert "weave_eval" not in before
        async with client.listen(tools_list_changed=True) as sub:
            assert sub.honored.tools_list_changed
            stack.start("vibeweaver")
            await asyncio.wait_for(anext(aiter(sub)), HANG_GUARD_S)
        after = {t.name for t in (await client.list_tools()).tools}
    assert {"weave_eval", "weave_session", "weave_reset", "weave_help"} <= after - before


async def test_session_export_writes_flac_stems_and_reports_progress(url, stack):
    reports = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total))

    async with mcp_session(url, TOKEN) as client:
        uri = "stream://live/stems"
        await _record(client, uri, seconds=0.5)
        named = await client.call_tool("stream_update", {"uri": uri, "channel_names": {"0": "kick"}})
        assert named.structured_content == {"uri": uri, "channels": 2, "channel_names": {"0": "kick"}}
        for names, refusal in (({"2": "hats"}, "channel 2 is out of range; stream://live/stems has 2 channels"),
                               ({"1": "a/b"}, "is not a name a file can carry"),
                               ({"1": "kick"}, "kick would name two channels")):
            bad = await client.call_tool("stream_update", {"uri": uri, "channel_names": names})
            assert bad.is_error and refusal in bad.content[0].text, bad.content[0].text
        session = (await client.call_tool("session_create", {"streams": [uri]})).structured_content["session"]
        assert not (await client.call_tool("session_play", {"session": session})).is_error
        await asyncio.sleep(1.0)
        assert not (await client.call_tool("session_stop", {"session": session})).is_error
        result = await client.call_tool("session_export", {"session": session, "stems": True, "format": "flac",
                                                             "sample_format": "s24"},
                                        progress_callback=on_progress)
        assert not result.is_error, result.content
        files = result.structured_content["files"]
        bad = await client.call_tool("session_export", {"session": session, "channels": [4]})
        assert bad.is_error and "stream://live/stems has 2 channels" in bad.content[0].text
    assert [f["channels"] for f in files] == [[0], [1]] and {f["mime"] for f in files} == {"audio/flac"}
    assert [f["name"] for f in files] == ["live-stems-kick.flac", "live-stems-ch1.flac"]
    store = ContentStore(stack.data_dir / "cas")
    first, last = files[0]["sample_range"]
    whole = np.frombuffer(sim_frames(first, last - first, RATE, 2, SampleFormat.S32), "<i4").reshape(-1, 2)
    for channel, file in enumerate(files):
        data, rate = sf.read(store.path(file["content_hash"]), dtype="int32", always_2d=True)
        # The sim records s32; FLAC holds 24 bits: a stem is the channel rounded to its top 24 bits.
        assert rate == RATE and data.shape == (last - first, 1)
        assert np.abs((data[:, 0] >> 8) - whole[:, channel] / 256).max() <= 1
    assert reports and reports[-1][0] == reports[-1][1]  # the last report is the whole export
    assert [p for p, _ in reports] == sorted(p for p, _ in reports)
