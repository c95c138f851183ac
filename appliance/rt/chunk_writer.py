"""Writing captured bytes into mmap'd chunk files, in the capture thread.

The control thread prepares each chunk (open, fallocate, mmap with pages
populated for writing) before the capture thread needs it, so a chunk
boundary costs the capture loop a pointer swap and nothing else: no system
call, no page fault, no waiting on hootenanny. Full chunks go back to the
control thread to unmap and announce. Without a prepared chunk the bytes go
to the overflow ring and are drained into later chunks in order.

Nothing the control thread does to a chunk may hold the GIL across disk
I/O, or the capture thread waits for it: `mmap.flush()` and `mmap.madvise()`
both do (a 4 MiB msync under disk load held it for over 100 ms, and the card
overran). So chunks are never msync'd here (hootenanny's seal fsyncs them),
and pages are populated through libc, which ctypes calls without the GIL.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from appliance.rt.overflow_ring import OverflowRing


# MAP_POPULATE maps a shared file's pages read-only (the kernel tracks dirtying by write faults), so each
# page's first write would fault into the filesystem, journal and dirty throttling on the capture thread:
# up to a millisecond under disk load, measured. MADV_POPULATE_WRITE (Linux 5.14) takes those faults here.
MADV_POPULATE_WRITE = 23
PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


class ChunkPrepareError(OSError):
    """A chunk file could not be made ready (no space, bad path, permissions)."""


@dataclass(eq=False)
class MappedChunk:
    """A staging file mapped for writing. `used` bytes at the front are written."""

    path: Path
    capacity: int
    fd: int
    map: mmap.mmap
    view: memoryview
    serial: int
    first_sample: int = -1
    used: int = 0

    @classmethod
    def prepare(cls, path: Path, capacity: int, serial: int) -> "MappedChunk":
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ChunkPrepareError(exc.errno, f"cannot open chunk {path}: {exc.strerror}") from None
        try:
            # Reserve real blocks now: writing a sparse mapping on a full disk is SIGBUS later.
            os.posix_fallocate(fd, 0, capacity)
            mapped = mmap.mmap(fd, capacity, flags=mmap.MAP_SHARED)
            _populate_for_writing(mapped, capacity)
        except OSError as exc:
            os.close(fd)
            raise ChunkPrepareError(exc.errno, f"cannot prepare chunk {path}: {exc.strerror}") from None
        return cls(path, capacity, fd, mapped, memoryview(mapped), serial)

    @property
    def room(self) -> int:
        return self.capacity - self.used

    def release(self) -> None:
        """Unmap (control thread only); the bytes stay in the page cache. The file keeps its allocated size."""
        self.view.release()
        self.map.close()
        os.close(self.fd)


def _populate_for_writing(mapped: mmap.mmap, capacity: int) -> None:
    address = ctypes.c_char.from_buffer(mapped)  # an export of the buffer: let go of it before the map closes
    try:
        failed = _libc.madvise(ctypes.addressof(address), capacity, MADV_POPULATE_WRITE)
    finally:
        del address
    if not failed:
        return
    code = ctypes.get_errno()
    if code != errno.EINVAL:
        raise OSError(code, os.strerror(code))
    for offset in range(0, capacity, PAGE):  # an older kernel: write-fault each page, changing nothing
        mapped[offset] = mapped[offset]


@dataclass(frozen=True, slots=True)
class FullChunk:
    chunk: MappedChunk
    bytes_written: int
    samples_written: int
    first_sample: int


@dataclass
class ChunkWriter:
    """Lays a stream's bytes into chunks, frame-aligned, without gaps or reordering."""

    frame_bytes: int
    ring: OverflowRing
    spares: deque[MappedChunk] = field(default_factory=deque)  # filled by the control thread
    full: deque[FullChunk] = field(default_factory=deque)  # emptied by the control thread
    current: MappedChunk | None = None
    samples_in_files: int = 0  # the head: samples below it are in chunk files
    samples_captured: int = 0  # including what waits in the ring
    whole_records: bool = False  # MIDI: a record never spans two chunks

    def write(self, data: memoryview | bytes) -> None:
        """Append captured bytes (whole frames, or one whole MIDI record)."""
        n = len(data)
        frames = n // self.frame_bytes
        self.samples_captured += frames
        chunk = self.current
        if chunk is not None and n < chunk.capacity - chunk.used and self.ring.empty:
            # The common case, once per period: one copy into the mapped chunk.
            if chunk.first_sample < 0:
                chunk.first_sample = self.samples_in_files
            used = chunk.used
            chunk.view[used : used + n] = data
            chunk.used = used + n
            self.samples_in_files += frames
            return
        if not self.ring.empty:
            self.drain(4 * len(data) + 65536)
        if self.ring.empty and self._has_chunk():
            self._to_files(data)
        else:
            self.ring.push(data)

    def write_silence(self, nbytes: int) -> None:
        """Silence (zero bytes) that keeps the sample count true across an overrun or unplug."""
        self.samples_captured += nbytes // self.frame_bytes
        if self.ring.empty and self._has_chunk():
            self._silence_to_files(nbytes)
        else:
            self.ring.push_gap(nbytes)

    def drain(self, budget: int) -> None:
        """Move ring bytes into chunk files while there are chunks to take them."""
        while not self.ring.empty and self._has_chunk() and budget > 0:
            budget -= self.ring.drain(self._to_files, self._silence_to_files, min(budget, self._room()))

    def finish(self) -> FullChunk | None:
        """Hand over the current chunk as it is (at stop); None when there is none."""
        chunk, self.current = self.current, None
        if chunk is None or chunk.used == 0 and chunk.first_sample < 0:
            if chunk is not None:
                self.spares.appendleft(chunk)
            return None
        return self._full(chunk)

    def cut(self) -> None:
        """Hand over the current chunk now if anything is in it (MIDI's bound on unsealed data); a spare is next."""
        if self.current is not None and self.current.used:
            self._rotate()

    def _has_chunk(self) -> bool:
        return self._next_chunk() is not None

    def _next_chunk(self) -> MappedChunk | None:
        """The chunk to write into: the current one, else the next spare (None: only the ring is left)."""
        if self.current is None and self.spares:
            self.current = self.spares.popleft()
        return self.current

    def _room(self) -> int:
        return self.current.room if self.current is not None else 0

    def _to_files(self, data: memoryview | bytes) -> None:
        """Lay `data` into chunk files, across as many as it takes; callers have checked a chunk is there."""
        pos, n = 0, len(data)
        chunk = self._next_chunk()
        if chunk is not None and self.whole_records and n > chunk.room:
            self._rotate()
            chunk = self._next_chunk()
        while chunk is not None and pos < n:
            take = min(chunk.room, n - pos)
            self._begin(chunk)
            chunk.view[chunk.used : chunk.used + take] = data[pos : pos + take]
            chunk.used += take
            pos += take
            self.samples_in_files += take // self.frame_bytes
            if chunk.room == 0:
                self._rotate()
                chunk = self._next_chunk() if pos < n else None
        if pos < n:
            self.ring.push(data[pos:])

    def _silence_to_files(self, nbytes: int) -> None:
        # Fresh fallocated chunks read as zeros, and zero is silence in every format.
        while nbytes > 0:
            chunk = self._next_chunk()
            if chunk is None:
                self.ring.push_gap(nbytes)
                return
            take = min(chunk.room, nbytes)
            self._begin(chunk)
            chunk.used += take
            nbytes -= take
            self.samples_in_files += take // self.frame_bytes
            if chunk.room == 0:
                self._rotate()

    def _begin(self, chunk: MappedChunk) -> None:
        if chunk.first_sample < 0:
            chunk.first_sample = self.samples_in_files

    def _rotate(self) -> None:
        chunk, self.current = self.current, None
        if chunk is not None:
            self.full.append(self._full(chunk))

    def _full(self, chunk: MappedChunk) -> FullChunk:
        first = chunk.first_sample if chunk.first_sample >= 0 else self.samples_in_files
        return FullChunk(chunk, chunk.used, chunk.used // self.frame_bytes, first)
