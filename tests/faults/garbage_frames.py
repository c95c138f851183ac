"""Malformed HOOT01 traffic for the fuzz scenarios, one multipart message at a time.

`Garbage` makes what a broken or hostile local peer could send a ROUTER
(as a DEALER sends it: the ROUTER adds the identity frame): random frames;
a real request with one header field broken; a valid header over a
truncated, random or hostile Cap'n Proto body; real requests bit-flipped,
or with frames missing, repeated or added; real envelopes of the wrong
kind, with absurd values, or under the wrong command. The real requests
are built with the codec from `REQUESTS[target]`, whose values never name
the box's own streams, devices or files, so no mutation of them can stop
the recording the scenarios watch. `Subscriptions` does the same for a
PUB socket's subscription frames, and `raw_connection` for the bytes of a
whole connection below ZMQ (greetings, handshakes and frame headers).
"""

from __future__ import annotations

import json
import math
import random
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from appliance.proto import codec
from appliance.proto.codec import BodyError
from appliance.proto.framing import PROTOCOL, Command, ContentType, Message, encode

Value = Callable[[random.Random], Any]

FLOATS = (math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0, 2.0**63, -1.0, 1e-300)
U64 = (0, 1, 2**32, 2**63, 2**64 - 1)
U32 = (0, 1, 255, 65536, 2**31, 2**32 - 1)
U16 = (0, 1, 255, 256, 257, 65535)
NOT_A_DIR = "/nonexistent-fuzz"  # paths below it never exist: a start is refused before it touches a device
TOOLS = ("stream_status", "device_list", "transport_status", "session_list", "artifact_list", "weave_help",
         "weave_session", "no_such_tool", "")  # read-only or unknown: a valid call changes nothing


def absurd_float(rng: random.Random) -> float:
    return rng.choice(FLOATS) if rng.random() < 0.7 else rng.uniform(-1e12, 1e12)


def absurd_text(rng: random.Random) -> str:
    pick = rng.randrange(8)
    if pick == 0:
        return ""
    if pick == 1:
        return "x" * rng.choice((255, 256, 4096, 65536) if rng.random() < 0.1 else (1, 255, 256))
    if pick == 2:
        return "".join(chr(rng.randrange(1, 0x2FFFF)) for _ in range(rng.randrange(1, 40))
                       ).encode("utf-8", "replace").decode("utf-8", "replace")
    if pick == 3:
        return rng.choice(("\0", "../../../../etc/passwd", "stream://", "stream://a/", "{}", "%s%n", " "))
    if pick == 4:
        return f"stream://fuzz/{rng.randrange(10**6)}"
    return f"fuzz-{rng.randrange(64)}"


def fuzz_path(rng: random.Random) -> str:
    return rng.choice((f"{NOT_A_DIR}/{rng.randrange(10**6)}", "relative/path", "", "/", "/proc/self/mem",
                       NOT_A_DIR + "/" + "p" * 5000))


def definition(rng: random.Random, uri: str) -> dict[str, Any]:
    return {"uri": uri if rng.random() < 0.7 else absurd_text(rng), "device": rng.choice(("hw:CARD=Fuzz,DEV=0", "")),
            "kind": rng.choice(("audio", "midi")), "sampleRate": rng.choice(U32), "channels": rng.choice(U16),
            "sampleFormat": rng.choice(("s16", "s24", "s24in32", "s32", "f32")),
            "chunkSamples": rng.choice(U64), "periodFrames": rng.choice(U32)}


def stream_start(rng: random.Random) -> dict[str, Any]:
    uri = f"stream://fuzz/{rng.randrange(1000)}"
    return {"uri": uri, "definition": definition(rng, uri), "chunkPath": fuzz_path(rng),
            "sparePaths": [fuzz_path(rng) for _ in range(rng.choice((0, 1, 3, 3, 3, 1000)))],
            "startSample": rng.choice(U64)}


def transport_command(rng: random.Random) -> dict[str, Any]:
    verb = rng.choice(("play", "pause", "stop", "seek", "tempo", "status"))
    return {verb: absurd_float(rng) if verb in ("seek", "tempo") else None}


def device_notice(rng: random.Random) -> dict[str, Any]:
    """About a card the box does not have (never `sim`), so a `removed` stops nothing."""
    return {"deviceId": rng.choice(("Fuzz", "")), "action": rng.choice(("added", "removed")),
            "kind": rng.choice(("audio", "midi")), "alsaName": "hw:CARD=Fuzz,DEV=0", "devPath": absurd_text(rng)}


def tool_call(rng: random.Random) -> dict[str, Any]:
    arguments = rng.choice(("{}", "", "null", "[]", "{", "[" * 5000, '{"uri": 5}', '{"topic": "api"}',
                            json.dumps({"uri": absurd_text(rng)}), '"' + "a" * 70000 + '"', "NaN", "1e999"))
    return {"name": rng.choice(TOOLS), "argumentsJson": arguments}


def ready(rng: random.Random) -> dict[str, Any]:
    """A worker registration under a service and tool names of its own (never vibeweaver's or a built-in)."""
    tools = [{"name": f"fuzz_tool_{rng.randrange(8)}", "description": absurd_text(rng),
              "inputSchemaJson": rng.choice(("", "{", "[]", '{"type": "object"}', "null")),
              "annotationsJson": rng.choice(("", "{", "[]", "{}", '{"readOnlyHint": "yes"}'))}
             for _ in range(rng.choice((0, 1, 3)))]
    return {"service": "fuzz-worker", "tools": tools, "pid": rng.choice(U32)}


GARDEN: dict[str, Value] = {
    "streamStart": stream_start,
    "streamSwitchChunk": lambda rng: {"uri": absurd_text(rng), "newChunkPath": fuzz_path(rng)},
    "streamStop": lambda rng: {"uri": absurd_text(rng)},
    "streamChunkSealed": lambda rng: {"uri": absurd_text(rng), "path": fuzz_path(rng)},
    "streamStatusRequest": lambda rng: None,
    "deviceNotice": device_notice,
    "transportCommand": transport_command,
    "marker": lambda rng: {"name": absurd_text(rng), "beat": absurd_float(rng), "metadataJson": absurd_text(rng)},
    "timelineSchedule": lambda rng: {"id": absurd_text(rng), "contentPath": fuzz_path(rng),
                                     "mime": rng.choice(("audio/wav", "audio/midi", "")), "atBeat": absurd_float(rng),
                                     "durationBeats": absurd_float(rng), "gain": rng.choice((0.0, 1.0, 3e38)),
                                     "artifactId": absurd_text(rng)},
    "timelineRemove": absurd_text,
    "timelineList": lambda rng: None,
    "audition": lambda rng: {"contentPath": fuzz_path(rng), "mime": rng.choice(("audio/wav", "audio/midi", "")),
                             "durationSeconds": absurd_float(rng), "gain": 1.0, "midiOut": fuzz_path(rng)},
}
HOOTENANNY: dict[str, Value] = {"toolCall": tool_call, "deviceNotice": device_notice}
# Members no peer sends as a request: replies, and requests meant for the other process.
WRONG_KINDS: dict[str, Value] = {
    "ack": lambda rng: None,
    "error": lambda rng: {"code": "internal", "message": absurd_text(rng)},
    "ready": ready,
    "toolResult": lambda rng: {"structuredJson": "{", "text": absurd_text(rng), "isError": rng.random() < 0.5},
    "streamStatusReply": lambda rng: [{"uri": absurd_text(rng)}] * rng.choice((0, 1, 500)),
    "transportReply": lambda rng: {"state": "playing", "beat": absurd_float(rng)},
    "auditionReply": lambda rng: {"durationSeconds": absurd_float(rng), "startSample": rng.choice(U64)},
    "timelineContents": lambda rng: {"markers": [{"name": absurd_text(rng)}] * rng.choice((0, 1, 500))},
}
REQUESTS = {"chaosgarden": GARDEN, "hootenanny": HOOTENANNY}
POOL = 4000  # distinct real bodies per target, drawn from (and mutated) at random


class Garbage:
    """An endless supply of malformed messages for one target; `counts` is how many of each mutation it made."""

    def __init__(self, target: str, seed: int) -> None:
        self.rng = random.Random(seed)
        kinds = {**REQUESTS[target], **WRONG_KINDS} if target == "hootenanny" else REQUESTS[target]
        self.requests = [self.fresh_body(kinds) for _ in range(POOL)]  # packing each anew would be the bottleneck
        self.wrong = [self.fresh_body(WRONG_KINDS) for _ in range(POOL // 4)]
        self.readies = [self.fresh_body({"ready": ready}) for _ in range(POOL // 16)]
        self.counts: Counter[str] = Counter()
        self.mutations: list[tuple[str, float, Callable[[], list[bytes]]]] = [
            ("random frames", 0.15, self.random_frames),
            ("broken header", 0.15, self.broken_header),
            ("bad body", 0.15, self.bad_body),
            ("hostile capnp", 0.05, self.hostile_capnp),
            ("bit flips", 0.20, self.bit_flips),
            ("frame count", 0.10, self.frame_count),
            ("absurd values", 0.12, self.absurd_values),
            ("wrong kind or command", 0.08, self.wrong_kind),
        ]
        self._weights = [w for _n, w, _f in self.mutations]

    def next(self) -> list[bytes]:
        name, _w, make = self.rng.choices(self.mutations, self._weights)[0]
        self.counts[name] += 1
        return make() or [b""]

    # -- the pieces --------------------------------------------------------
    def blob(self, most: int = 64) -> bytes:
        return self.rng.randbytes(self.rng.randrange(most + 1))

    def body(self, pool: list[bytes] | None = None) -> bytes:
        return self.rng.choice(pool or self.requests)

    def fresh_body(self, kinds: dict[str, Value]) -> bytes:
        """A real Envelope of one of `kinds`, with values that may be absurd."""
        kind = self.rng.choice(list(kinds))
        try:
            return codec.pack_envelope(kind, kinds[kind](self.rng))
        except BodyError:  # a value the schema cannot hold (text with a NUL, say): an empty request instead
            return codec.pack_envelope("streamStatusRequest")

    def request(self, body: bytes | None = None, command: Command = Command.REQUEST) -> list[bytes]:
        rid = self.rng.randbytes(16)
        return encode(Message(command, ContentType.ENVELOPE, rid, "fuzz", "", self.body() if body is None else body))

    # -- mutations ---------------------------------------------------------
    def random_frames(self) -> list[bytes]:
        frames = [self.blob() for _ in range(self.rng.randrange(1, 10))]
        if self.rng.random() < 0.3:
            frames.insert(self.rng.randrange(len(frames) + 1), PROTOCOL)
        if self.rng.random() < 0.002:
            frames.append(self.rng.randbytes(1 << 20))  # a large frame now and then
        return frames

    def broken_header(self) -> list[bytes]:
        frames = self.request()
        at, bad = self.rng.choice([
            (0, b"HOOT02"), (0, b""), (1, self.blob(3)), (1, b"\xff\xff"), (2, b"\x00\x07"), (2, b"\x00\x02"),
            (2, b"\x00\x00"), (2, b"\x00\x03"), (3, self.blob(15)), (3, self.blob(40)), (4, b"\xff\xfe"),
            (4, b"s" * 256), (5, b"\xc3\x28"), (5, b"t" * 4096),
        ])
        frames[at] = bad
        return frames

    def bad_body(self) -> list[bytes]:
        real = self.body()
        body = self.rng.choice([
            real[: self.rng.randrange(len(real))],
            self.blob(256),
            real + self.blob(64),
            b"",
            real[:8] + self.blob(len(real)),
        ])
        return self.request(body)

    def hostile_capnp(self) -> list[bytes]:
        """Segment tables and pointers a decoder must bound: huge counts, far and cyclic pointers, big lists."""
        rng = self.rng
        pick = rng.randrange(6)
        if pick == 0:  # a segment table promising more than is there
            body = struct.pack("<II", rng.choice((0, 1, 511, 2**32 - 1)), rng.choice((1, 2**20, 2**32 - 1)))
            body += self.blob(32)
        elif pick == 1:  # a root pointer far outside the segment
            body = struct.pack("<II", 0, 2) + struct.pack("<iHH", rng.choice((2**29 - 1, -(2**29))) << 2, 1, 1)
            body += bytes(8)
        elif pick == 2:  # a far pointer into a segment that does not exist
            body = struct.pack("<II", 0, 1) + struct.pack("<II", 2 | (rng.randrange(2**29) << 3), 77)
        elif pick == 3:  # a struct whose pointer points back at itself
            body = struct.pack("<II", 0, 3) + struct.pack("<iHH", 0, 1, 1) + struct.pack("<H6x", 2)
            body += struct.pack("<iHH", -2 << 2, 1, 1)
        else:  # a list of many zero-sized elements: a few bytes that decode into millions of dicts
            body = zero_sized_list(rng.choice((2, 9)), rng.choice((1000, 100_000, 4_000_000, 2**29 - 1)))
        return self.request(body)

    def bit_flips(self) -> list[bytes]:
        frames = self.request()
        at = 6 if self.rng.random() < 0.8 else self.rng.randrange(len(frames))
        data = bytearray(frames[at])
        for _ in range(self.rng.randint(1, 8)):
            if data:
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        frames[at] = bytes(data)
        return frames

    def frame_count(self) -> list[bytes]:
        frames = self.request()
        pick = self.rng.randrange(5)
        if pick == 0:
            del frames[self.rng.randrange(len(frames)):]
        elif pick == 1:
            frames.append(self.blob())
        elif pick == 2:
            frames = frames + frames  # two messages in one
        elif pick == 3:
            del frames[self.rng.randrange(len(frames))]
        else:
            frames = [self.blob(16)] * self.rng.randrange(1, 4) + frames  # identity-like frames before HOOT01
        return frames or [b""]

    def absurd_values(self) -> list[bytes]:
        return self.request()  # `body` already draws absurd values; here they go out unmutated

    def wrong_kind(self) -> list[bytes]:
        """Replies sent as requests, requests as replies to ids nobody asked, and stray READY/HEARTBEAT/DISCONNECT."""
        command = self.rng.choice((Command.REQUEST, Command.REPLY, Command.READY, Command.HEARTBEAT,
                                   Command.DISCONNECT))
        body = self.body(self.wrong if command == Command.REQUEST else None)
        if command in (Command.READY, Command.HEARTBEAT, Command.DISCONNECT) and self.rng.random() < 0.5:
            body = self.body(self.readies) if self.rng.random() < 0.5 else self.blob()
        return self.request(body, command)


def zero_sized_list(discriminant: int, count: int) -> bytes:
    """An Envelope whose member (ready, or streamStatusReply) holds `count` zero-sized structs, in 56 bytes.

    Ready's `tools` is its second pointer; streamStatusReply is the list itself.
    """
    words = [struct.pack("<iHH", 0, 1, 1), struct.pack("<H6x", discriminant)]
    if discriminant == 2:  # ready: a struct of 1 data word and 2 pointers, tools in the second
        words += [struct.pack("<iHH", 0, 1, 2), bytes(8), bytes(8), struct.pack("<iI", (0 << 2) | 1, 7)]
    else:  # the member is the list pointer
        words += [struct.pack("<iI", (0 << 2) | 1, 7)]
    words.append(struct.pack("<iHH", count << 2, 0, 0))  # the list's tag: count elements of no words
    segment = b"".join(words)
    return struct.pack("<II", 0, len(segment) // 8) + segment


class Subscriptions:
    """Junk subscription traffic for a PUB socket, as an XSUB sends it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.subscribed: list[bytes] = []

    def next(self) -> list[bytes]:
        rng = self.rng
        pick = rng.randrange(10)
        if pick < 4:
            topic = rng.randbytes(rng.choice((0, 1, 3, 8, 30))) if rng.random() < 0.999 else b"t" * 65536
            self.subscribed.append(topic)
            self.counts["subscribe"] += 1
            return [b"\x01" + topic]
        if pick < 6 and self.subscribed:
            self.counts["unsubscribe"] += 1
            return [b"\x00" + self.subscribed.pop(rng.randrange(len(self.subscribed)))]
        if pick < 7:
            self.counts["unsubscribe unknown"] += 1
            return [b"\x00" + rng.randbytes(rng.randrange(20))]
        if pick < 8:
            self.counts["multipart"] += 1
            return [rng.choice((b"\x01", b"\x00", b"")) + rng.randbytes(rng.randrange(10))
                    for _ in range(rng.randrange(2, 6))]
        self.counts["not a subscription"] += 1
        return [bytes([rng.randrange(2, 256)]) + rng.randbytes(rng.randrange(40))]


# -- raw bytes at a socket file, below ZMQ -----------------------------------
def zmtp_greeting(mechanism: bytes = b"NULL", version: bytes = b"\x03\x00") -> bytes:
    return b"\xff" + bytes(8) + b"\x7f" + version + mechanism.ljust(20, b"\0")[:20] + b"\x00" + bytes(31)


def zmtp_ready(socket_type: bytes, extra: bytes = b"") -> bytes:
    body = b"\x05READY" + bytes([11]) + b"Socket-Type" + len(socket_type).to_bytes(4, "big") + socket_type + extra
    return b"\x04" + bytes([len(body)]) + body if len(body) < 256 else b"\x06" + len(body).to_bytes(8, "big") + body


def zmtp_frame(data: bytes, more: bool = False) -> bytes:
    if len(data) < 256:
        return bytes([int(more)]) + bytes([len(data)]) + data
    return bytes([2 | int(more)]) + len(data).to_bytes(8, "big") + data


def raw_connection(rng: random.Random, socket_type: bytes, frames: list[bytes]) -> tuple[str, bytes]:
    """What one raw connection sends before it closes: (what it is, the bytes)."""
    pick = rng.randrange(7)
    if pick == 0:
        return "random bytes", rng.randbytes(rng.randrange(1, 300))
    if pick == 1:
        whole = zmtp_greeting() + zmtp_ready(socket_type)
        return "cut handshake", whole[: rng.randrange(1, len(whole))]
    if pick == 2:
        return "wrong mechanism", zmtp_greeting(rng.choice((b"CURVE", b"PLAIN", b"GSSAPI", rng.randbytes(20))))
    if pick == 3:
        return "wrong version", zmtp_greeting(version=rng.choice((b"\x01\x00", b"\x02\x00", b"\x04\x00", b"\xff\xff")))
    if pick == 4:
        kind = rng.choice((b"PUB", b"ROUTER", b"REP", b"PAIR", b"", rng.randbytes(8), b"X" * 200))
        return "wrong socket type", zmtp_greeting() + zmtp_ready(kind, rng.choice((b"", rng.randbytes(30))))
    if pick == 5:  # a frame header announcing more than is sent: absurd sizes, then the connection ends
        size = rng.choice((2**62, 2**63 - 1, 2**40, 2**31, (1 << 20) + 1, 300))
        return "announced huge frame", (zmtp_greeting() + zmtp_ready(socket_type) + b"\x02"
                                        + size.to_bytes(8, "big") + rng.randbytes(rng.randrange(20)))
    body = b"".join(zmtp_frame(f, more=i < len(frames) - 1) for i, f in enumerate(frames))
    return "garbage after a good handshake", zmtp_greeting() + zmtp_ready(socket_type) + body
