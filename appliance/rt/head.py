"""The capture head, shared by a capture thread (writer) and the control thread (reader).

A seqlock over a fixed `array`: the writer bumps the sequence to odd, stores
the fields, bumps it to even; the reader retries until it sees the same even
sequence on both sides. No lock, so the capture loop never waits.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

_SEQ, _SAMPLE, _SERIAL, _USED, _MONO, _REAL, _FIRST = range(7)


@dataclass(frozen=True, slots=True)
class HeadSnapshot:
    sample: int  # stream position: every sample below it is in chunk files
    chunk_serial: int  # which prepared chunk is current (-1: none)
    chunk_used: int  # bytes written into it
    chunk_first_sample: int
    monotonic_ns: int
    realtime_ns: int


class Head:
    def __init__(self) -> None:
        self._a = array("q", [0, 0, -1, 0, 0, 0, 0])

    def store(self, sample: int, serial: int, used: int, first: int, mono: int, real: int) -> None:
        a = self._a
        a[_SEQ] += 1
        a[_SAMPLE] = sample
        a[_SERIAL] = serial
        a[_USED] = used
        a[_FIRST] = first
        a[_MONO] = mono
        a[_REAL] = real
        a[_SEQ] += 1

    def load(self) -> HeadSnapshot:
        a = self._a
        while True:
            seq = a[_SEQ]
            snap = HeadSnapshot(a[_SAMPLE], a[_SERIAL], a[_USED], a[_FIRST], a[_MONO], a[_REAL])
            if seq % 2 == 0 and a[_SEQ] == seq:
                return snap
