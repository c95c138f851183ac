import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.proto import codec
from appliance.proto.codec import Body, BodyError


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
