"""Transport and timeline tools through the real hootenanny and chaosgarden, with the broadcasts they cause."""

import asyncio

import pytest
import zmq
import zmq.asyncio

from appliance.proto import endpoints
from appliance.proto.pubsub import Subscriber
from tests.support.garden import until
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
