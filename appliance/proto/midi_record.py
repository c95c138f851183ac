"""The record format of MIDI chunk files, shared by chaosgarden (writes) and hootenanny (reads).

Each record is one burst of raw MIDI bytes as it arrived: a 20-byte header
`<q monotonic_ns, q stream sample, I length>` then `length` bytes. The sample
is the position on the stream (at its sample rate), so MIDI slices
by the same time points as audio. A record never spans two chunks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

HEADER = struct.Struct("<qqI")
MAX_RECORD_DATA = 4096


@dataclass(frozen=True, slots=True)
class MidiRecord:
    monotonic_ns: int
    sample: int
    data: bytes


def pack_record(monotonic_ns: int, sample: int, data: bytes) -> bytes:
    return HEADER.pack(monotonic_ns, sample, len(data)) + data


def iter_records(chunk: bytes | memoryview) -> Iterator[MidiRecord]:
    """Records in a chunk, in order; stops at a truncated tail (a chunk cut at a crash)."""
    pos, end = 0, len(chunk)
    while pos + HEADER.size <= end:
        mono, sample, length = HEADER.unpack_from(chunk, pos)
        if length > MAX_RECORD_DATA or pos + HEADER.size + length > end:
            return
        start = pos + HEADER.size
        yield MidiRecord(mono, sample, bytes(chunk[start : start + length]))
        pos = start + length
