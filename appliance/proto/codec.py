"""Cap'n Proto bodies to and from plain Python values.

The schemas in `schemas/` define the wire; in Python a body is a dict of plain
values (`to_dict(verbose=True)`: every field present, enums as names). Decoding
walks the whole message once, so a malformed body fails here with `BodyError`
instead of later, deep inside a handler. (pycapnp aborts the process on some
malformed pointers when asked for `total_size`; `to_dict` raises instead.)
A decode may visit no more words than the body holds: Cap'n Proto charges a
list of zero-sized elements one word each, so without that bound a 56-byte
body could decode into millions of dicts (seconds of a stalled event loop and
gigabytes of memory). Even so each such word becomes a dict of defaults, so a
receiver names the members it serves and any other is refused before it is
expanded.

A body value may also be a `WireMessage` (the typed messages of
`stream_messages.py`, `transport_messages.py`, `timeline_messages.py`,
`audition_messages.py`, `job_messages.py`, `artifact_messages.py` and
`tool_messages.py`), or a list of them: packing takes its `to_wire()`.
Decoding always gives plain values; `typed_bodies.typed_value` types them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import capnp

SCHEMA_DIR = Path(__file__).parent / "schemas"

streams = capnp.load(str(SCHEMA_DIR / "streams.capnp"))
garden = capnp.load(str(SCHEMA_DIR / "garden.capnp"))
vibeweaver = capnp.load(str(SCHEMA_DIR / "vibeweaver.capnp"))
broadcast = capnp.load(str(SCHEMA_DIR / "broadcast.capnp"))
envelope = capnp.load(str(SCHEMA_DIR / "envelope.capnp"))

# Bodies are small control messages; these bound what a hostile one may cost.
TRAVERSAL_LIMIT_WORDS = 4 * 1024 * 1024
TRAVERSAL_SLACK_WORDS = 64
NESTING_LIMIT = 32


class BodyError(ValueError):
    """A body that is not a valid message of the expected schema."""


class WireMessage:
    """A typed body value; the codec packs it as the plain value `to_wire()` gives."""

    __slots__ = ()

    def to_wire(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Body:
    """One member of a union message (Envelope or Broadcast) and its value."""

    kind: str
    value: Any = None


def pack(struct: Any, value: dict[str, Any]) -> bytes:
    """Encode `value` as a `struct` message (e.g. `codec.vibeweaver.KernelState`)."""
    try:
        return struct.new_message(**value).to_bytes()
    except (capnp.KjException, AttributeError, TypeError, ValueError) as exc:
        raise BodyError(f"cannot encode {struct.schema.node.displayName}: {exc}") from exc


def unpack(struct: Any, body: bytes, kinds: Collection[str] | None = None) -> dict[str, Any]:
    """Decode and fully validate one `struct` message; with `kinds`, only a union member among them."""
    name = struct.schema.node.displayName
    try:
        with struct.from_bytes(
            body, traversal_limit_in_words=traversal_limit(body), nesting_limit=NESTING_LIMIT
        ) as reader:
            if kinds is not None and (kind := reader.which()) not in kinds:
                raise BodyError(f"{name}: {kind} is not served here; served: {', '.join(sorted(kinds))}")
            return reader.to_dict(verbose=True)
    except BodyError:
        raise
    except Exception as exc:  # pycapnp raises KjException, RuntimeError, ValueError… for hostile input
        raise BodyError(f"malformed {name}: {exc}") from exc


def traversal_limit(body: bytes) -> int:
    """Words a decode of `body` may visit: a well-formed message visits each of its words once."""
    return min(TRAVERSAL_LIMIT_WORDS, len(body) // 8 + TRAVERSAL_SLACK_WORDS)


def _pack_union(struct: Any, body: Body) -> bytes:
    return pack(struct, {body.kind: _plain(body.value)})


def _plain(value: Any) -> Any:
    if isinstance(value, WireMessage):
        return value.to_wire()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unpack_union(struct: Any, data: bytes, kinds: Collection[str] | None = None) -> Body:
    value = unpack(struct, data, kinds)
    if len(value) != 1:
        raise BodyError(f"{struct.schema.node.displayName} must carry exactly one member")
    ((kind, inner),) = value.items()
    return Body(kind, inner)


def pack_envelope(kind: str, value: Any = None) -> bytes:
    """Encode a request or reply body, e.g. `pack_envelope("streamStop", {"uri": u})`."""
    return _pack_union(envelope.Envelope, Body(kind, value))


def unpack_envelope(data: bytes, kinds: Collection[str] | None = None) -> Body:
    """Decode a body; with `kinds`, refuse any other member without decoding it."""
    return _unpack_union(envelope.Envelope, data, kinds)


def pack_broadcast(kind: str, value: Any) -> bytes:
    return _pack_union(broadcast.Broadcast, Body(kind, value))


def unpack_broadcast(data: bytes) -> Body:
    return _unpack_union(broadcast.Broadcast, data)
