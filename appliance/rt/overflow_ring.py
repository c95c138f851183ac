"""The RAM ring a capture thread falls back on when no spare chunk file is ready.

Bytes go in at the tail and come out at the head in order. When even the
ring is full, incoming audio is dropped and remembered as a gap of that many
bytes at that point, so draining writes silence there and every later sample
keeps its true position on the timeline.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class OverflowRing:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._buf = memoryview(bytearray(capacity))
        self._head = 0  # absolute byte counts since creation
        self._tail = 0
        self._gaps: deque[list[int]] = deque()  # [absolute position, bytes of silence]
        self.dropped_bytes = 0

    @property
    def used(self) -> int:
        return self._tail - self._head

    @property
    def empty(self) -> bool:
        return self._tail == self._head and not self._gaps

    def push(self, data: memoryview | bytes) -> bool:
        """Append `data`; False (nothing written, a gap recorded) when it does not fit."""
        n = len(data)
        if n > self.capacity - self.used:
            self.push_gap(n)
            self.dropped_bytes += n
            return False
        start = self._tail % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = data[:first]
        if first < n:
            self._buf[: n - first] = data[first:]
        self._tail += n
        return True

    def discard(self) -> int:
        """Empty the ring without writing it anywhere (nowhere is left); return the bytes it held."""
        held = self.used + sum(n for _, n in self._gaps)
        self._head = self._tail
        self._gaps.clear()
        return held

    def push_gap(self, nbytes: int) -> None:
        """Silence of `nbytes` at the current tail (merged with a gap already there)."""
        if self._gaps and self._gaps[-1][0] == self._tail:
            self._gaps[-1][1] += nbytes
        else:
            self._gaps.append([self._tail, nbytes])

    def drain(self, write: Callable[[memoryview], None], silence: Callable[[int], None], budget: int) -> int:
        """Move up to `budget` bytes (silence counts) to `write`/`silence`; return bytes moved."""
        moved = 0
        while moved < budget and not self.empty:
            if self._gaps and self._gaps[0][0] == self._head:
                gap = self._gaps[0]
                n = min(gap[1], budget - moved)
                silence(n)
                gap[1] -= n
                if gap[1] == 0:
                    self._gaps.popleft()
                moved += n
                continue
            limit = self._gaps[0][0] if self._gaps else self._tail
            start = self._head % self.capacity
            n = min(limit - self._head, self.capacity - start, budget - moved)
            write(self._buf[start : start + n])
            self._head += n
            moved += n
        return moved
