import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.proto.framing import (
    PROTOCOL,
    Command,
    ContentType,
    DropCounter,
    FrameError,
    Message,
    decode,
    encode,
    new_request_id,
)

names = st.text(max_size=60).filter(lambda s: len(s.encode()) <= 255)
messages = st.builds(
    Message,
    command=st.sampled_from(Command),
    content_type=st.sampled_from(ContentType),
    request_id=st.binary(min_size=16, max_size=16),
    service=names,
    traceparent=names,
    body=st.binary(max_size=4096),
)
prefixes = st.lists(st.binary(min_size=1, max_size=8).filter(lambda b: b != PROTOCOL), max_size=3)


@given(messages, prefixes)
def test_encode_decode_round_trip(message, prefix):
    got_prefix, got = decode(encode(message, prefix))
    assert got == message
    assert got_prefix == prefix


def test_layout_is_the_designs():
    rid = new_request_id()
    frames = encode(Message(Command.REPLY, ContentType.ENVELOPE, rid, "vibeweaver", "00-ab", b"x"), [b"id"])
    assert frames == [b"id", b"HOOT01", b"\x00\x03", b"\x00\x01", rid, b"vibeweaver", b"00-ab", b"x"]


@settings(max_examples=500)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_random_frames_never_crash(frames):
    try:
        decode(frames)
    except FrameError as exc:
        assert exc.reason


@settings(max_examples=500)
@given(messages, st.data())
def test_truncated_or_mangled_messages_fail_cleanly(message, data):
    frames = encode(message)
    cut = data.draw(st.integers(min_value=0, max_value=len(frames) - 1))
    mangled = frames[:cut] if data.draw(st.booleans()) else frames + [b"extra"]
    with pytest.raises(FrameError):
        decode(mangled)


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([b"HOOT02", b"\0\1", b"\0\0", bytes(16), b"", b"", b""], "no-protocol"),
        ([PROTOCOL, b"\x00\x09", b"\0\0", bytes(16), b"", b"", b""], "command"),
        ([PROTOCOL, b"\0\1", b"\0\0", bytes(15), b"", b"", b""], "request-id"),
        ([PROTOCOL, b"\0\1", b"\x7f\0", bytes(16), b"", b"", b""], "content-type"),
        ([PROTOCOL, b"\1", b"\0\0", bytes(16), b"", b"", b""], "command"),
        ([PROTOCOL, b"\0\1", b"\0\0", bytes(16), b"\xff\xfe", b"", b""], "service"),
        ([PROTOCOL, b"\0\1", b"\0\0", bytes(16), b"x" * 300, b"", b""], "service"),
        ([PROTOCOL, b"\0\1", b"\0\0", bytes(16), b"", b""], "frame-count"),
    ],
)
def test_each_malformation_has_a_reason(frames, reason):
    with pytest.raises(FrameError) as info:
        decode(frames)
    assert info.value.reason == reason


def test_encode_refuses_bad_fields():
    with pytest.raises(FrameError):
        encode(Message(Command.READY, request_id=b"short"))
    with pytest.raises(FrameError):
        encode(Message(Command.READY, service="s" * 256))


def test_drop_counter_counts_by_reason():
    drops = DropCounter()
    for frames in ([b"junk"], [os.urandom(6)], [PROTOCOL]):
        try:
            decode(frames)
        except FrameError as exc:
            drops.count(exc.reason)
    assert drops.total == 3
    assert drops.by_reason["no-protocol"] >= 1
