import asyncio

import pytest
import zmq
import zmq.asyncio

from appliance.proto.endpoints import ipc
from appliance.proto.framing import PROTOCOL
from appliance.proto.pubsub import Publisher, Subscriber, broadcast_frames

HEAD = {"streamUri": "stream://e/main", "samplePosition": 10, "bytePosition": 40, "monotonicNs": 1,
        "realtimeNs": 2, "chunkPath": "/c", "chunkFirstSample": 0}


async def connected(short_tmp, topics):
    ctx = zmq.asyncio.Context()
    endpoint = ipc(short_tmp, "ev.sock")
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    pub.bind(endpoint)
    sub.connect(endpoint)
    subscriber = Subscriber(sub, topics)
    publisher = Publisher(pub, "chaosgarden")
    # Slow joiner: publish until the subscription has propagated.
    for _ in range(200):
        publisher.publish("stream.head", "streamHeadPosition", HEAD)
        if await sub.poll(10):
            await subscriber.receive()
            break
    return ctx, publisher, subscriber, pub


async def test_topic_filter_and_decode(short_tmp):
    ctx, publisher, subscriber, _ = await connected(short_tmp, ["stream."])
    publisher.publish("job.complete", "jobEvent", {"jobId": "j", "state": "complete"})
    publisher.publish("stream.head", "streamHeadPosition", HEAD)
    event, frames = await asyncio.wait_for(subscriber.receive(), 2)
    assert event.topic == "stream.head"
    assert event.body.value == HEAD
    assert event.service == "chaosgarden"
    assert frames[0] == b"stream.head"
    ctx.destroy(linger=0)


async def test_malformed_broadcasts_are_dropped_and_counted(short_tmp):
    ctx, publisher, subscriber, pub = await connected(short_tmp, [""])
    await pub.send_multipart([b"stream.x", b"junk"])
    await pub.send_multipart([b"stream.x", PROTOCOL, b"\x00\x02", b"\x00\x02", bytes(16), b"", b"", b"\x01" * 24])
    await pub.send_multipart([b"stream.x", PROTOCOL, b"\x00\x02", b"\x00\x01", bytes(16), b"", b"", b""])
    publisher.publish("stream.head", "streamHeadPosition", HEAD)
    event, _ = await asyncio.wait_for(subscriber.receive(), 2)
    assert event.body.kind == "streamHeadPosition"
    assert subscriber.drops.total == 3
    ctx.destroy(linger=0)


def test_topics_must_be_known_families():
    with pytest.raises(ValueError, match="must start with one of stream."):
        broadcast_frames("weather.today", "jobEvent", {})
