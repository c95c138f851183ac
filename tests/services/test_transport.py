"""Transport and timeline tools through the real hootenanny and chaosgarden, with the broadcasts they cause."""

import asyncio
import io
import json

import numpy as np
import pytest
import soundfile as sf
import zmq
import zmq.asyncio

from appliance.cas import ContentStore
from appliance.proto import endpoints
from appliance.proto.pubsub import Subscriber
from tests.services.test_jobs import weave
from tests.support.garden import until
from tests.support.mcp_client import mcp_session, mcp_url
from tests.support.stack import ToolFailed


class Events:
    """hootenanny's fan-out: what a vibeweaver would hear."""

    def __init__(self, run_dir):
        self.ctx = zmq.asyncio.Context()
        sub = self.ctx.socket(zmq.SUB)
        sub.connect(endpoints.ipc(run_dir, endpoints.HOOTENANNY_EVENTS))
        self.sub = Subscriber(sub, ["transport.", "beat.", "marker."])
        self.seen = []
        self.task = asyncio.ensure_future(self._listen())

    async def _listen(self):
        while True:
            event, _ = await self.sub.receive()
            self.seen.append((event.body.kind, event.body.value))

    def of(self, kind):
        return [v for k, v in self.seen if k == kind]

    def close(self):
        self.task.cancel()
        self.ctx.destroy(linger=0)


@pytest.fixture
async def box(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    events = Events(stack.run_dir)
    await asyncio.sleep(0.3)  # the subscription reaches the PUB socket
    yield tools, events
    events.close()


async def test_transport_commands_round_trip(box):
    tools, events = box
    status = await tools.call("transport_status")
    assert status["state"] == "stopped" and status["beat"] == 0.0 and status["tempoBpm"] == 120.0
    assert (await tools.call("transport_tempo", bpm=240))["tempoBpm"] == 240.0
    played = await tools.call("transport_play")
    assert played["state"] == "playing" and played["beat"] == 0.0
    await until(lambda: len(events.of("beatTick")) >= 8)
    ticks = [t["beat"] for t in events.of("beatTick")]
    assert ticks[:8] == [i / 4 for i in range(8)]  # resolution 4: every quarter beat, from 0
    paused = await tools.call("transport_pause")
    assert paused["state"] == "paused" and paused["beat"] >= 1.75
    held = (await tools.call("transport_status"))["beat"]
    await asyncio.sleep(0.1)
    assert (await tools.call("transport_status"))["beat"] == held
    sought = await tools.call("transport_seek", beat=16)
    assert sought["state"] == "paused" and sought["beat"] == 16.0
    stopped = await tools.call("transport_stop")
    assert stopped["state"] == "stopped" and stopped["beat"] == 0.0
    await until(lambda: len(events.of("transportStateChanged")) >= 5)
    assert [s["state"] for s in events.of("transportStateChanged")] == \
        ["stopped", "playing", "paused", "paused", "stopped"]


async def test_marker_is_reached_once(box):
    tools, events = box
    await tools.call("transport_tempo", bpm=400)
    await tools.call("timeline_marker", name="drop", beat=2, metadata={"section": "B"})
    await tools.call("transport_play")
    await until(lambda: events.of("markerReached"))
    await until(lambda: any(t["beat"] >= 3 for t in events.of("beatTick")))
    (marker,) = events.of("markerReached")
    assert marker["name"] == "drop" and marker["beat"] == 2.0 and '"section": "B"' in marker["metadataJson"]
    tick_two = next(i for i, (k, v) in enumerate(events.seen) if k == "beatTick" and v["beat"] == 2.0)
    assert events.seen.index(("markerReached", marker)) > tick_two  # reached with the beat, not before it
    await tools.call("transport_stop")


@pytest.mark.parametrize("tool, args, field", [
    ("transport_tempo", {"bpm": 10}, "bpm"),
    ("transport_tempo", {"bpm": 401}, "bpm"),
    ("transport_seek", {"beat": -1}, "beat"),
    ("transport_seek", {"beat": float("inf")}, "beat"),  # found by the fuzz scenario: it killed the beat clock
    ("transport_seek", {"beat": 2.0**63}, "beat"),  # ... and this one kept it emitting tick bursts, a core's worth
    ("timeline_schedule", {"artifact_id": "art-nope", "at": 0}, "artifact_id"),
    ("timeline_schedule", {"artifact_id": "x", "at": 0, "gain": 5}, "gain"),
    ("timeline_marker", {"name": "", "beat": 1}, "name"),
])
async def test_bad_arguments_name_the_field(box, tool, args, field):
    tools, _events = box
    with pytest.raises(ToolFailed) as failed:
        await tools.call(tool, **args)
    assert field in failed.value.text


async def test_chaosgarden_away_is_unavailable(stack, tools):
    stack.start("hootenanny")
    with pytest.raises(ToolFailed) as failed:
        await tools.call("transport_play")
    assert "unavailable" in failed.value.text


def wav_in_cas(stack):
    """A short WAV put into the box's CAS, for registering as an artifact."""
    buffer = io.BytesIO()
    sf.write(buffer, np.full((4800, 2), 0.25, dtype=np.float32), 48000, format="WAV", subtype="FLOAT")
    return str(ContentStore(stack.data_dir / "cas").put(buffer.getvalue()))


async def test_regions_are_listed_and_removed_by_id(box, stack):
    tools, _events = box
    wav = await tools.call("artifact_register", content_hash=wav_in_cas(stack), mime="audio/wav")
    late = await tools.call("timeline_schedule", artifact_id=wav["artifact_id"], at=8, duration=2, gain=0.5)
    early = await tools.call("timeline_schedule", artifact_id=wav["artifact_id"], at=4)
    await tools.call("timeline_marker", name="verse", beat=6, metadata={"n": 1})
    listed = await tools.call("timeline_list")
    assert [r["region_id"] for r in listed["regions"]] == [early["region_id"], late["region_id"]]  # beat order
    assert listed["regions"][1] == {"region_id": late["region_id"], "artifact_id": wav["artifact_id"], "at": 8.0,
                                    "duration": 2.0, "gain": 0.5, "mime": "audio/wav"}
    assert listed["markers"] == [{"name": "verse", "beat": 6.0, "metadata": {"n": 1}}]
    removed = await tools.call("timeline_remove", region_id=late["region_id"])
    assert removed == listed["regions"][1]
    assert [r["region_id"] for r in (await tools.call("timeline_list"))["regions"]] == [early["region_id"]]
    with pytest.raises(ToolFailed) as failed:
        await tools.call("timeline_remove", region_id=late["region_id"])
    text = failed.value.text
    assert "region_id" in text and late["region_id"] in text and early["region_id"] in text  # what exists instead
    assert "timeline_list" in text


async def test_the_kernel_places_and_removes_regions_through_the_same_tools(box, stack):
    tools, _events = box
    stack.start("vibeweaver")
    wav = (await tools.call("artifact_register", content_hash=wav_in_cas(stack), mime="audio/wav"))["artifact_id"]
    out = await weave(tools, f"a = schedule({wav!r}, at=4)\nb = schedule({wav!r}, at=8, gain=0.5)\n"
                             "unschedule(a)['region_id'] == a['region_id'], [r['at'] for r in regions()]")
    assert out["result"] == "(True, [8.0])", out["error"]
    (region,) = (await tools.call("timeline_list"))["regions"]
    assert region["artifact_id"] == wav and region["gain"] == 0.5
    out = await weave(tools, "unschedule(a)")
    assert not out["success"] and "region_id: no region 'reg-" in out["error"]
    assert f"placed: {region['region_id']}" in out["error"] and "timeline_list" in out["error"]


@pytest.mark.parametrize("stack_env", [{"STUDIO_RT_PLAYBACK_DEVICE": "studio-no-such-pcm",
                                        "STUDIO_MCP_TOKEN": "test-token-outputs-0123456789"}])
async def test_a_playback_device_that_cannot_open_is_logged_broadcast_and_in_the_status(box, stack):
    tools, events = box
    await until(lambda: events.of("outputStatus"))  # repeated while it stands, so a late subscriber hears it
    heard = events.of("outputStatus")[0]
    assert heard["kind"] == "audio" and heard["device"] == "studio-no-such-pcm"
    assert heard["error"].startswith("cannot open playback PCM 'studio-no-such-pcm': ")
    status = await tools.call("transport_status")
    assert status["outputs"] == [heard]
    assert f"audio output studio-no-such-pcm: {heard['error']}" in stack.log("chaosgarden")  # with ALSA's reason
    played = await tools.call("transport_play")  # the beat clock runs on without the device
    assert played["state"] == "playing" and played["outputs"] == [heard]
    async with mcp_session(mcp_url(stack.env["STUDIO_MCP_PORT"]), stack.env["STUDIO_MCP_TOKEN"]) as client:
        resource = json.loads((await client.read_resource("studio://transport")).contents[0].text)
        assert resource["outputs"] == [heard]  # what an MCP agent sees (and is told of when it changes)
