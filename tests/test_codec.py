import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.proto import codec
from appliance.proto import stream_messages as wire
from appliance.proto import tool_messages, typed_bodies
from appliance.proto.codec import Body, BodyError
from appliance.proto.stream_definition import StreamDefinition, StreamKind


def stream_start(uri: str, spares: list[str]) -> dict:
    return {
        "uri": uri,
        "definition": {"uri": uri, "device": "sim", "kind": "audio", "sampleRate": 48000, "channels": 2,
                       "sampleFormat": "s24", "chunkSamples": 131072, "periodFrames": 0},
        "chunkPath": "/data/cas/staging/blake3/ab/cd/" + "ab" * 32,
        "sparePaths": spares,
        "startSample": 0,
        "startRealtimeNs": 0,
    }


@given(st.text(max_size=100), st.lists(st.text(max_size=80), max_size=8))
def test_envelope_round_trip(uri, spares):
    value = stream_start(uri, spares)
    body = codec.unpack_envelope(codec.pack_envelope("streamStart", value))
    assert body == Body("streamStart", value)


def test_void_members_round_trip():
    assert codec.unpack_envelope(codec.pack_envelope("ack")) == Body("ack", None)


def test_broadcast_round_trip():
    head = {"streamUri": "stream://eurorack/main", "samplePosition": 48000, "bytePosition": 288000,
            "monotonicNs": 1, "realtimeNs": 2, "chunkPath": "/p", "chunkFirstSample": 0}
    assert codec.unpack_broadcast(codec.pack_broadcast("streamHeadPosition", head)) == Body("streamHeadPosition", head)


U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
CLOCK = wire.ClockSnapshot(sample=48000, monotonic_ns=1, realtime_ns=2, reason="chunkBoundary")
HEAD = wire.HeadPosition(stream_uri="stream://eurorack/main", sample=48000, byte_position=288000, monotonic_ns=1,
                         realtime_ns=2, chunk_path="/p", chunk_first_sample=0)
FULL = wire.ChunkFull(stream_uri="stream://eurorack/main", path="/p", bytes_written=288000, samples_written=48000,
                      first_sample=0, clock=CLOCK, final=True)
STATE = wire.StreamState(uri="stream://eurorack/main", running=True, head=HEAD, unacknowledged=(FULL, FULL),
                         spares_left=2, ring_samples=3, dropped_samples=4, xruns=5, device_connected=False,
                         last_error="gone", clocks=(CLOCK,), spare_paths=("/s1", "/s2"))
BROADCASTS = [HEAD, FULL, wire.StreamError(stream_uri="stream://e/m", error="xrun", recoverable=True, kind="xrun",
                                           clock=CLOCK, lost_samples=7, xruns=1)]
REQUESTS = [
    wire.StreamStart(uri="stream://e/m", definition=StreamDefinition(uri="stream://e/m", device="sim"),
                     chunk_path="/c", spare_paths=("/s1", "/s2"), start_sample=9, start_realtime_ns=10),
    wire.SwitchChunk(uri="stream://e/m", new_chunk_path="/n"),
    wire.ChunkSealed(uri="stream://e/m", path="/c"),
    wire.StreamStop(uri="stream://e/m"),
    wire.DeviceNotice(device_id="ES9", action="removed", kind=StreamKind.MIDI, alsa_name="/dev/snd/midiC1D0",
                      dev_path="/devices/x"),
]


@pytest.mark.parametrize("message", BROADCASTS, ids=lambda m: m.KIND)
def test_typed_broadcasts_round_trip(message):
    assert wire.typed_value(codec.unpack_broadcast(codec.pack_broadcast(message.KIND, message))) == message


@pytest.mark.parametrize("message", REQUESTS, ids=lambda m: m.KIND)
def test_typed_requests_round_trip(message):
    assert wire.typed_value(codec.unpack_envelope(codec.pack_envelope(message.KIND, message))) == message


def test_stream_states_round_trip_in_a_status_reply():
    body = codec.unpack_envelope(codec.pack_envelope(wire.STATUS_REPLY, [STATE]))
    assert wire.states_in(body) == [STATE] and wire.typed_value(body) == [STATE]
    assert wire.states_in(codec.unpack_envelope(codec.pack_envelope("ack"))) == []


@given(U64, U64, U64, U64, I64, I64, st.booleans())
def test_chunk_full_round_trips_every_value_the_schema_holds(first, samples, written, at, mono, real, final):
    clock = wire.ClockSnapshot(sample=at, monotonic_ns=mono, realtime_ns=real, reason="stop")
    full = wire.ChunkFull(stream_uri="stream://a/b", path="/p", bytes_written=written, samples_written=samples,
                          first_sample=first, clock=clock, final=final)
    assert wire.typed_value(codec.unpack_broadcast(codec.pack_broadcast(full.KIND, full))) == full


def test_a_typed_message_goes_on_the_wire_under_the_schema_names():
    head = {"streamUri": "stream://eurorack/main", "samplePosition": 48000, "bytePosition": 288000,
            "monotonicNs": 1, "realtimeNs": 2, "chunkPath": "/p", "chunkFirstSample": 0}
    assert codec.unpack_broadcast(codec.pack_broadcast(HEAD.KIND, HEAD)) == Body("streamHeadPosition", head)


TOOL_MESSAGES = [
    tool_messages.ToolCall(name="stream_status", arguments_json='{"uri": null}'),
    tool_messages.ToolResult(structured_json='{"streams": []}', text="no streams defined"),
    tool_messages.ToolResult(structured_json="{}", text="stream_status: no such stream", is_error=True),
    tool_messages.ToolResult(structured_json='{"result": "<Figure>"}', text="ok", images=(b"\x89PNG one", b"two")),
]


@pytest.mark.parametrize("message", TOOL_MESSAGES, ids=lambda m: m.KIND)
def test_tool_messages_round_trip(message):
    assert typed_bodies.typed_value(codec.unpack_envelope(codec.pack_envelope(message.KIND, message))) == message


def test_a_tool_result_goes_on_the_wire_under_the_schema_names():
    result = tool_messages.ToolResult(structured_json="{}", text="no", is_error=True)
    assert codec.unpack_envelope(codec.pack_envelope(result.KIND, result)) == Body(
        "toolResult", {"structuredJson": "{}", "text": "no", "isError": True, "images": []})


def test_an_error_without_a_clock_decodes_with_the_unset_clock():
    error = wire.StreamError(stream_uri="stream://e/m", error="disk full", recoverable=True, kind="noSpace")
    decoded = wire.typed_value(codec.unpack_broadcast(codec.pack_broadcast(error.KIND, error)))
    assert decoded == error and decoded.clock == wire.UNSET_CLOCK


def test_kernel_state_round_trip():
    state = {"sessionId": "s1", "sessionName": "night", "vibe": "dub", "transport": "playing", "tempoBpm": 120.0,
             "beat": 16.5, "jobs": [{"id": "j", "state": "running", "space": "pattern", "artifactId": "", "error": ""}],
             "recentArtifacts": [{"id": "a", "contentHash": "0" * 64, "mime": "audio/wav", "tags": ["kick"]}],
             "updatedNs": 5}
    assert codec.unpack(codec.vibeweaver.KernelState, codec.pack(codec.vibeweaver.KernelState, state)) == state


@pytest.mark.parametrize(("kind", "value"), [("noSuchMember", None), ("streamStop", {"uri": 5}),
                                             ("streamStop", {"nope": "x"})])
def test_bad_values_refused_when_packing(kind, value):
    with pytest.raises(BodyError):
        codec.pack_envelope(kind, value)


def test_random_corruption_never_crashes_the_process():
    """pycapnp aborts on some malformed pointers unless decoded through to_dict; 20 000 tries."""
    good = codec.pack_envelope("streamStart", stream_start("stream://a/b", ["x", "y", "z"]))
    rng = random.Random(7)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(20_000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.25:
            data = data[: rng.randrange(len(data))]
        try:
            codec.unpack_envelope(bytes(data))
            outcomes["ok"] += 1
        except BodyError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 1000 and outcomes["ok"] > 1000


@settings(max_examples=2000)
@given(st.binary(max_size=512))
def test_random_bytes_are_refused_or_decoded(data):
    try:
        body = codec.unpack_broadcast(data)
        assert isinstance(body.kind, str)
    except BodyError:
        pass


def zero_sized_structs(count: int) -> bytes:
    """An Envelope `ready` whose `tools` list holds `count` zero-sized structs: 56 bytes for any count."""
    words = [
        struct.pack("<iHH", 0, 1, 1),  # root: Envelope, 1 data word, 1 pointer
        struct.pack("<H6x", 2),  # discriminant: ready
        struct.pack("<iHH", 0, 1, 2),  # Ready: 1 data word, 2 pointers
        bytes(8), bytes(8),  # pid; service (null)
        struct.pack("<iI", 1, 7),  # tools: a composite list of 0 words
        struct.pack("<iHH", count << 2, 0, 0),  # its tag: `count` elements of 0 data words, 0 pointers
    ]
    segment = b"".join(words)
    return struct.pack("<II", 0, len(segment) // 8) + segment


def test_a_small_body_cannot_decode_into_millions_of_values():
    """Found by the fuzz scenario: 56 bytes used to decode into 4 million dicts (2 GB, 40 s of a stalled loop)."""
    assert len(codec.unpack_envelope(zero_sized_structs(3)).value["tools"]) == 3
    with pytest.raises(BodyError):
        codec.unpack_envelope(zero_sized_structs(4_000_000))


def test_every_real_message_fits_the_traversal_limit():
    tools = [{"name": f"t{i}", "description": "d" * 300, "inputSchemaJson": "{}", "annotationsJson": ""}
             for i in range(40)]
    for kind, value in [("streamStart", stream_start("stream://a/b", ["s"] * 200)), ("ack", None),
                        ("ready", {"service": "v", "tools": tools, "pid": 1}), ("ready", {"tools": [{}] * 5})]:
        assert codec.unpack_envelope(codec.pack_envelope(kind, value)).kind == kind


def test_a_member_the_receiver_does_not_serve_is_refused_before_it_is_decoded():
    """Within the traversal limit each word of a zero-sized list still becomes a dict of defaults (a 1 MB body:
    3 s and 260 MB); receivers name what they serve, so such a body is refused by its kind alone."""
    body = zero_sized_structs(3) + bytes(1 << 20)
    assert codec.unpack_envelope(body, ("ready",)).kind == "ready"
    with pytest.raises(BodyError, match="ready is not served here; served: deviceNotice, toolCall"):
        codec.unpack_envelope(body, ("toolCall", "deviceNotice"))
