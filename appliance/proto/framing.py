"""HOOT01 multipart frames.

Every message is `[*prefix, b"HOOT01", command u16, content type u16,
request id (16 bytes), service, traceparent, body]`. The prefix is the ROUTER
identity frames on a request socket, or the topic frame on a PUB socket.
Integers are big-endian. A frame list that does not fit raises `FrameError`;
receivers drop it and count it (`DropCounter`), they never crash on it.
"""

from __future__ import annotations

import enum
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

PROTOCOL = b"HOOT01"
REQUEST_ID_BYTES = 16
MAX_NAME_BYTES = 255
FRAMES_AFTER_PREFIX = 7
NO_REQUEST = bytes(REQUEST_ID_BYTES)

E = TypeVar("E", bound=enum.IntEnum)  # the enum a two-byte frame is decoded into


class Command(enum.IntEnum):
    READY = 1
    REQUEST = 2
    REPLY = 3
    HEARTBEAT = 4
    DISCONNECT = 5


class ContentType(enum.IntEnum):
    EMPTY = 0
    ENVELOPE = 1  # appliance.proto.codec Envelope
    BROADCAST = 2  # appliance.proto.codec Broadcast
    JSON = 3


class FrameError(ValueError):
    """A multipart message that is not a HOOT01 frame; `reason` is a short tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def new_request_id() -> bytes:
    return uuid.uuid4().bytes


@dataclass(frozen=True, slots=True)
class Message:
    command: Command
    content_type: ContentType = ContentType.EMPTY
    request_id: bytes = NO_REQUEST
    service: str = ""
    traceparent: str = ""
    body: bytes = b""


def encode(message: Message, prefix: tuple[bytes, ...] | list[bytes] = ()) -> list[bytes]:
    """The frames for `message`, after `prefix` (identities or a topic)."""
    if len(message.request_id) != REQUEST_ID_BYTES:
        raise FrameError("request_id", f"must be {REQUEST_ID_BYTES} bytes")
    return [
        *prefix,
        PROTOCOL,
        int(message.command).to_bytes(2, "big"),
        int(message.content_type).to_bytes(2, "big"),
        message.request_id,
        _name(message.service, "service"),
        _name(message.traceparent, "traceparent"),
        message.body,
    ]


def decode(frames: list[bytes]) -> tuple[list[bytes], Message]:
    """Split `frames` into (prefix, Message); raise `FrameError` when they do not fit."""
    frames = [bytes(f) for f in frames]
    try:
        at = frames.index(PROTOCOL)
    except ValueError:
        raise FrameError("no-protocol", "no HOOT01 frame") from None
    rest = frames[at + 1 :]
    if len(rest) != FRAMES_AFTER_PREFIX - 1:
        raise FrameError("frame-count", f"{len(rest) + 1} frames after the prefix, expected 7")
    command_b, content_b, request_id, service_b, trace_b, body = rest
    return frames[:at], Message(
        command=_enum(Command, command_b, "command"),
        content_type=_enum(ContentType, content_b, "content-type"),
        request_id=_request_id(request_id),
        service=_text(service_b, "service"),
        traceparent=_text(trace_b, "traceparent"),
        body=body,
    )


def _name(value: str, what: str) -> bytes:
    data = value.encode()
    if len(data) > MAX_NAME_BYTES:
        raise FrameError(what, f"longer than {MAX_NAME_BYTES} bytes")
    return data


def _enum(kind: type[E], data: bytes, what: str) -> E:
    if len(data) != 2:
        raise FrameError(what, "must be 2 bytes")
    try:
        return kind(int.from_bytes(data, "big"))
    except ValueError:
        raise FrameError(what, f"unknown value {int.from_bytes(data, 'big')}") from None


def _request_id(data: bytes) -> bytes:
    if len(data) != REQUEST_ID_BYTES:
        raise FrameError("request-id", f"must be {REQUEST_ID_BYTES} bytes")
    return data


def _text(data: bytes, what: str) -> str:
    if len(data) > MAX_NAME_BYTES:
        raise FrameError(what, f"longer than {MAX_NAME_BYTES} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise FrameError(what, "not UTF-8") from None


@dataclass
class DropCounter:
    """Messages a receiver dropped, by reason; logged, reported, never fatal."""

    by_reason: Counter[str] = field(default_factory=Counter)

    def count(self, reason: str) -> None:
        self.by_reason[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())
