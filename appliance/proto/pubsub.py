"""Broadcasts: `[topic, HOOT01, REQUEST, BROADCAST, 0…0, service, traceparent, body]` on PUB/SUB.

A broadcast is a one-way REQUEST with the all-zero request id: nobody
replies. The topic frame (`stream.head`, `job.complete`, …) comes first so a
subscriber filters by prefix (`stream.`) without decoding the body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from appliance.proto.codec import Body, BodyError, pack_broadcast, unpack_broadcast
from appliance.proto.framing import Command, ContentType, DropCounter, FrameError, Message, decode, encode

TOPIC_PREFIXES = ("stream.", "job.", "artifact.", "transport.", "beat.", "marker.", "device.")


@dataclass(frozen=True, slots=True)
class Broadcast:
    topic: str
    body: Body
    service: str = ""


def broadcast_frames(topic: str, kind: str, value: Any, service: str = "") -> list[bytes]:
    if not topic.startswith(TOPIC_PREFIXES):
        raise ValueError(f"topic {topic!r} must start with one of {', '.join(TOPIC_PREFIXES)}")
    body = pack_broadcast(kind, value)
    return encode(Message(Command.REQUEST, ContentType.BROADCAST, service=service, body=body), (topic.encode(),))


class Publisher:
    """A PUB socket; sending never blocks (a slow subscriber loses, the publisher does not wait)."""

    def __init__(self, socket: zmq.Socket, service: str) -> None:
        self.socket = socket
        self.service = service

    def publish(self, topic: str, kind: str, value: Any) -> None:
        self.socket.send_multipart(broadcast_frames(topic, kind, value, self.service), flags=zmq.NOBLOCK)

    def forward(self, frames: list[bytes]) -> None:
        """Re-publish an already encoded broadcast unchanged (hootenanny's fan-out)."""
        self.socket.send_multipart(frames, flags=zmq.NOBLOCK)


class Subscriber:
    """A SUB socket that yields decoded broadcasts and counts the ones it had to drop."""

    def __init__(self, socket: zmq.asyncio.Socket, topics: Iterable[str] = ("",)) -> None:
        self.socket = socket
        self.drops = DropCounter()
        for topic in topics:
            socket.setsockopt(zmq.SUBSCRIBE, topic.encode())

    async def receive(self) -> tuple[Broadcast, list[bytes]]:
        """The next well-formed broadcast and its raw frames."""
        while True:
            frames = await self.socket.recv_multipart()
            decoded = parse_broadcast(frames, self.drops)
            if decoded is not None:
                return decoded, frames


def parse_broadcast(frames: list[bytes], drops: DropCounter) -> Broadcast | None:
    try:
        prefix, message = decode(frames)
    except FrameError as exc:
        drops.count(exc.reason)
        return None
    if len(prefix) != 1 or message.content_type != ContentType.BROADCAST:
        drops.count("not-broadcast")
        return None
    try:
        topic = prefix[0].decode()
        body = unpack_broadcast(message.body)
    except (UnicodeDecodeError, BodyError):
        drops.count("body")
        return None
    return Broadcast(topic, body, message.service)
