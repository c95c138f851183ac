"""The byte-laying logic of the capture path, on real mmap'd files."""

import mmap
import os
import resource

import pytest

from appliance.rt import chunk_writer
from appliance.rt.chunk_writer import ChunkPrepareError, ChunkWriter, MappedChunk
from appliance.rt.overflow_ring import OverflowRing

FRAME = 4


def chunks(tmp_path, n, capacity, start=0):
    return [MappedChunk.prepare(tmp_path / f"c{start + i}", capacity, start + i) for i in range(n)]


def contents(writer_full, tmp_path):
    out = b""
    for full in writer_full:
        full.chunk.release()
        out += (full.chunk.path).read_bytes()[: full.bytes_written]
    return out


def frames(n, seed=0):
    return bytes((seed + i) % 251 for i in range(n * FRAME))


def test_ring_wraps_and_keeps_order():
    ring = OverflowRing(10)
    assert ring.push(b"abcdefgh")
    out = []
    ring.drain(lambda v: out.append(bytes(v)), None, 6)
    assert ring.push(b"ijklmn")  # wraps around the end of the buffer
    ring.drain(lambda v: out.append(bytes(v)), None, 100)
    assert b"".join(bytes(x) for x in out) == b"abcdefghijklmn"
    assert ring.empty


def test_ring_overflow_becomes_a_gap_in_place():
    ring = OverflowRing(8)
    assert ring.push(b"12345678")
    assert not ring.push(b"XXXX")  # dropped: remembered as 4 bytes of silence here
    assert ring.dropped_bytes == 4
    got = []
    ring.drain(lambda v: got.append(bytes(v)), lambda n: got.append(b"\0" * n), 100)
    assert ring.push(b"after")
    ring.drain(lambda v: got.append(bytes(v)), lambda n: got.append(b"\0" * n), 100)
    assert b"".join(got) == b"12345678" + b"\0" * 4 + b"after"


def test_periods_split_across_chunk_boundaries(tmp_path):
    w = ChunkWriter(frame_bytes=FRAME, ring=OverflowRing(1024))
    w.spares.extend(chunks(tmp_path, 3, 10 * FRAME))
    data = frames(25)
    for i in range(5):
        w.write(data[i * 5 * FRAME : (i + 1) * 5 * FRAME])
    assert [f.first_sample for f in w.full] == [0, 10]
    final = w.finish()
    assert final.first_sample == 20 and final.samples_written == 5
    assert contents([*w.full, final], tmp_path) == data
    assert w.samples_in_files == 25


def test_no_spare_falls_back_to_ring_then_drains_in_order(tmp_path):
    w = ChunkWriter(frame_bytes=FRAME, ring=OverflowRing(1000))
    w.spares.extend(chunks(tmp_path, 1, 8 * FRAME))
    data = frames(40)
    for i in range(10):
        w.write(data[i * 4 * FRAME : (i + 1) * 4 * FRAME])
    assert w.samples_in_files == 8 and w.samples_captured == 40  # 32 frames wait in the ring
    w.spares.extend(chunks(tmp_path, 5, 8 * FRAME, start=1))
    w.drain(1 << 20)
    assert w.samples_in_files == 40 and w.ring.empty
    final = w.finish()
    assert contents([*w.full, final] if final else list(w.full), tmp_path) == data


def test_silence_keeps_the_timeline(tmp_path):
    w = ChunkWriter(frame_bytes=FRAME, ring=OverflowRing(64))
    w.spares.extend(chunks(tmp_path, 2, 16 * FRAME))
    w.write(frames(4))
    w.write_silence(6 * FRAME)
    w.write(frames(4, seed=9))
    final = w.finish()
    assert contents([final], tmp_path) == frames(4) + b"\0" * 6 * FRAME + frames(4, seed=9)
    assert w.samples_in_files == 14


def test_ring_overflow_is_silence_at_the_right_place(tmp_path):
    w = ChunkWriter(frame_bytes=FRAME, ring=OverflowRing(8 * FRAME))
    data = [frames(4, seed=s) for s in range(5)]
    for d in data:
        w.write(d)  # no chunk at all: 2 periods fit the ring, 3 are dropped
    assert w.ring.dropped_bytes == 12 * FRAME
    w.spares.extend(chunks(tmp_path, 1, 64 * FRAME))
    w.write(frames(4, seed=99))
    final = w.finish()
    expected = data[0] + data[1] + b"\0" * 12 * FRAME + frames(4, seed=99)
    assert contents([final], tmp_path) == expected
    assert w.samples_in_files == w.samples_captured == 24


def test_midi_records_never_span_chunks(tmp_path):
    w = ChunkWriter(frame_bytes=1, ring=OverflowRing(1024), whole_records=True)
    w.spares.extend(chunks(tmp_path, 3, 10))
    for record in (b"aaaa", b"bbbb", b"cccc", b"dddddddd"):
        w.write(record)
    final = w.finish()
    parts = [(f.chunk.path.read_bytes()[: f.bytes_written]) for f in [*w.full, final] if not f.chunk.release()]
    assert parts == [b"aaaabbbb", b"cccc", b"dddddddd"]


def test_prepare_reports_a_missing_directory(tmp_path):
    with pytest.raises(ChunkPrepareError, match="cannot open chunk"):
        MappedChunk.prepare(tmp_path / "no" / "such" / "dir", 4096, 1)


def test_prepare_reserves_blocks(tmp_path):
    chunk = MappedChunk.prepare(tmp_path / "c", 1 << 20, 1)
    assert os.stat(chunk.path).st_blocks * 512 >= 1 << 20
    chunk.release()


def test_ring_discard_empties_it_and_counts_gaps_too():
    ring = OverflowRing(16)
    ring.push(b"12345678")
    ring.push(b"x" * 12)  # does not fit: remembered as 12 bytes of silence
    assert ring.discard() == 20 and ring.empty and ring.used == 0


def write_faults(chunk: MappedChunk) -> int:
    """Minor page faults this thread takes writing one byte into each page of the chunk."""
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for offset in range(0, chunk.capacity, mmap.PAGESIZE):
        chunk.view[offset] = 1
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


@pytest.mark.parametrize("advice", [chunk_writer.MADV_POPULATE_WRITE, 9999], ids=["madvise", "older kernel"])
def test_prepared_pages_take_no_fault_on_the_capture_thread(tmp_path, monkeypatch, advice):
    """A first write to a page of a shared file mapping faults into the filesystem unless populated for writing."""
    pages = 256
    monkeypatch.setattr(chunk_writer, "MADV_POPULATE_WRITE", advice)  # 9999: refused like an unknown advice
    chunk = MappedChunk.prepare(tmp_path / "c", pages * mmap.PAGESIZE, 1)
    assert write_faults(chunk) < pages // 8
    chunk.release()
    fd = os.open(tmp_path / "plain", os.O_RDWR | os.O_CREAT)
    os.posix_fallocate(fd, 0, pages * mmap.PAGESIZE)
    plain = mmap.mmap(fd, pages * mmap.PAGESIZE, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
    unprepared = MappedChunk(tmp_path / "plain", pages * mmap.PAGESIZE, fd, plain, memoryview(plain), 2)
    assert write_faults(unprepared) >= pages  # what the capture thread would have paid
    unprepared.release()


def test_populating_a_file_with_data_changes_nothing(tmp_path, monkeypatch):
    data = os.urandom(64 * mmap.PAGESIZE)
    (tmp_path / "c").write_bytes(data)
    monkeypatch.setattr(chunk_writer, "MADV_POPULATE_WRITE", 9999)
    MappedChunk.prepare(tmp_path / "c", len(data), 1).release()
    assert (tmp_path / "c").read_bytes() == data
