"""The activity index from the inside: block figures against known signals, the page store, the indexer's holes.

The front door (stream_activity and stream_find through `studio up` and the
official MCP client) is in test_stream_analyze.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from appliance.cas import ContentStore
from appliance.proto.stream_definition import StreamDefinition
from appliance.services.activity.activity_store import PAGE_BLOCKS, ActivityStore, IndexedStream
from appliance.services.activity.block_figures import FLOOR_DBFS, BlockFigures, block_samples, measure_blocks
from appliance.services.activity.finder import FindRequest, all_of, find
from appliance.services.activity.index_window import IndexWindow
from appliance.services.activity.indexer import ActivityIndexer
from appliance.services.capture.manifest import ChunkRef, Manifest
from appliance.services.capture.recorder import Recorder

RATE = 48_000
BLOCK = block_samples(RATE)


def sine(seconds: float, dbfs: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None]


def test_a_sine_has_its_level_peak_and_brightness_in_every_block() -> None:
    figures = measure_blocks(sine(1.0, -20.0), RATE)
    assert figures.blocks == 10 and figures.channels == 1
    assert np.allclose(figures.rms_dbfs, -23.01, atol=0.02) and np.allclose(figures.peak_dbfs, -20.0, atol=0.01)
    assert np.allclose(figures.brightness_hz, 440, rtol=0.05)
    assert figures.onsets.sum() == 0 and figures.clipped.sum() == 0


def test_silence_is_floored_without_brightness_and_clicks_are_counted() -> None:
    x = np.zeros((4 * RATE, 2), dtype=np.float32)
    clicks = [RATE // 4 + i * RATE // 2 for i in range(8)]  # 120 BPM
    for at in clicks:
        x[at:at + 240, 1] = 0.5
    x[clicks[5]:clicks[5] + 10, 1] = 1.0  # ten samples of a click at full scale
    figures = measure_blocks(x, RATE)
    assert (figures.rms_dbfs[:, 0] == FLOOR_DBFS).all() and np.isnan(figures.brightness_hz[:, 0]).all()
    assert figures.onsets[:, 0].sum() == 0 and figures.onsets[:, 1].sum() == len(clicks)
    assert [int(b) for b in np.nonzero(figures.onsets[:, 1])[0]] == [at // BLOCK for at in clicks]
    assert figures.clipped[:, 1].sum() == 10


def test_lead_blocks_give_history_and_are_not_returned() -> None:
    x = np.concatenate([sine(0.1, -20.0), sine(0.2, -20.0)])  # a sound that began before the range
    assert measure_blocks(x, RATE, lead_blocks=1).onsets.sum() == 0
    assert measure_blocks(x, RATE, lead_blocks=1).blocks == 2


def test_pages_store_blocks_across_their_edges_and_unindexed_blocks_are_nan(tmp_path: Path) -> None:
    index = ActivityStore(tmp_path / "activity.db")
    index.begin(IndexedStream("stream://a/b", "audio", RATE, 2, BLOCK, 0, 0))
    rng = np.random.default_rng(3)
    figures = BlockFigures.from_floats(rng.uniform(-90, 0, (100, 2)), rng.uniform(-90, 0, (100, 2)),
                                       rng.uniform(50, 20000, (100, 2)), np.full((100, 2), 300),
                                       np.full((100, 2), 70000))
    first = PAGE_BLOCKS - 40
    index.add_blocks("stream://a/b", first, figures, (first + 100) * BLOCK)
    back = ActivityStore(tmp_path / "activity.db").blocks("stream://a/b", first - 5, first + 105, 2)
    assert np.isnan(back.rms_dbfs[:5]).all() and np.isnan(back.rms_dbfs[-5:]).all()
    assert np.array_equal(back.rms_dbfs[5:105], figures.rms_dbfs)  # kept in hundredths of a dB
    assert np.array_equal(back.brightness_hz[5:105], figures.brightness_hz)
    assert (back.onsets[5:105] == 255).all() and (back.clipped[5:105] == 65535).all()  # saturated, not wrapped
    peaks_only = index.blocks("stream://a/b", first, first + 100, 2, ("peak",))
    assert np.isnan(peaks_only.rms_dbfs).all() and np.array_equal(peaks_only.peak_dbfs, figures.peak_dbfs)
    assert index.stream("stream://a/b").indexed_to == (first + 100) * BLOCK


def test_notes_pair_their_offs_across_batches_and_the_newest_come_back(tmp_path: Path) -> None:
    index = ActivityStore(tmp_path / "activity.db")
    index.begin(IndexedStream("stream://k/m", "midi", RATE, 1, BLOCK, 0, 0))
    index.add_note_events("stream://k/m", [(100, 60, 90, 0), (200, 64, 80, 0)], 300)
    index.add_note_events("stream://k/m", [(400, 60, 0, 0), (500, 72, 70, 1)], 600)  # 60's off comes later
    notes = index.notes("stream://k/m", 0, 1000)
    assert [(n.sample, n.end_sample, n.pitch) for n in notes] == [(100, 400, 60), (200, None, 64), (500, None, 72)]
    assert [n.pitch for n in index.notes("stream://k/m", 0, 1000, {60, 72}, newest=1)] == [72]
    assert index.count_notes("stream://k/m", 0, 1000, {12 * k for k in range(11)}) == 2  # every C


def test_the_indexer_skips_a_hole_and_resumes_after_a_restart(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "cas")
    definition = StreamDefinition.parse({"uri": "stream://a/b", "device": "sim", "channels": 1,
                                         "sample_format": "s16", "chunk_samples": 9600})
    chunks = []
    for first in (0, 9600, 48000):  # samples 19200..48000 were released: a hole
        data = (sine(0.2, -20.0)[:, 0] * 2 ** 15).astype("<i2").tobytes()
        staging = store.create_staging()
        staging.path.write_bytes(data)
        chunks.append(ChunkRef(digest=store.seal(staging.path), first_sample=first, samples=9600, bytes=len(data)))
    manifest = Manifest(stream=definition.uri, definition=definition, chunks=chunks[:2])
    recorders = {definition.uri: Recorder(definition, manifest, None)}
    index = ActivityStore(tmp_path / "activity.db")
    asyncio.run(ActivityIndexer(recorders, store, index).catch_up())
    assert index.stream(definition.uri).indexed_to == 19200
    manifest.chunks.append(chunks[2])
    asyncio.run(ActivityIndexer(recorders, store, ActivityStore(tmp_path / "activity.db")).catch_up())  # restarted
    assert index.stream(definition.uri).indexed_to == 57600
    figures = index.blocks(definition.uri, 0, 12, 1)
    assert np.allclose(figures.rms_dbfs[:4], -23.0, atol=0.1) and np.isnan(figures.rms_dbfs[4:10]).all()
    assert np.allclose(figures.rms_dbfs[10:12], -23.0, atol=0.1)


@pytest.mark.parametrize("size", [1, 7])
def test_blocks_need_whole_blocks(size: int) -> None:
    assert measure_blocks(np.zeros((BLOCK * size + BLOCK // 2, 1), dtype=np.float32), RATE).blocks == size


@pytest.mark.parametrize("width", [1, 2, 3, 10, 17, 64])
def test_windows_of_silence_match_a_plain_scan(width: int) -> None:
    flags = np.random.default_rng(width).random((3, 300)) < 0.85
    plain = np.array([[flags[r, j:j + width].all() for j in range(300 - width + 1)] for r in range(3)])
    assert np.array_equal(all_of(flags, width), plain)


def test_after_the_audio_is_released_hits_keep_their_blocks(tmp_path: Path) -> None:
    """The index outlives retention: with no audio left to read, a hit is the 100 ms block it was found in."""
    index = ActivityStore(tmp_path / "activity.db")
    uri = "stream://a/b"
    stream = IndexedStream(uri, "audio", RATE, 1, BLOCK, 0, 40 * BLOCK)
    index.begin(stream)
    levels = np.full((40, 1), -100.0)
    levels[25:30] = -12.0  # 2.5 s of silence, then half a second of sound
    index.add_blocks(uri, 0, BlockFigures.from_floats(levels, levels + 3, np.full((40, 1), 900.0),
                                                      np.zeros((40, 1)), np.zeros((40, 1))), 40 * BLOCK)
    definition = StreamDefinition.parse({"uri": uri, "device": "sim", "channels": 1})
    window = IndexWindow(stream, Manifest(stream=uri, definition=definition), 0, 40 * BLOCK, 0)
    released = lambda first, end, channel: None  # noqa: E731
    for query, block in (("loudest", 25), ("sound_starts", 25), ("silence_starts", 30)):
        request = FindRequest(query=query, limit=5, channels=None, silence_dbfs=-60, min_silence_s=1.0, pitch=None)
        hits = find(window, index, request, released).hits
        (hit,) = hits
        assert not hit.exact and hit.start.sample == block * BLOCK, (query, hit)
        assert hit.wall_time is None  # no clock in this manifest: said, not made up


def test_a_chunk_that_fails_its_digest_is_left_out_once_and_the_rest_is_indexed(tmp_path: Path, caplog) -> None:
    store = ContentStore(tmp_path / "cas")
    definition = StreamDefinition.parse({"uri": "stream://a/b", "device": "sim", "channels": 1,
                                         "sample_format": "s16", "chunk_samples": 48000})
    chunks = []
    for first, dbfs in ((0, -20.0), (48000, -26.0), (96000, -32.0)):  # distinct content: three digests
        data = (sine(1.0, dbfs)[:, 0] * 2 ** 15).astype("<i2").tobytes()
        staging = store.create_staging()
        staging.path.write_bytes(data)
        chunks.append(ChunkRef(digest=store.seal(staging.path), first_sample=first, samples=48000, bytes=len(data)))
    bad = store.path(chunks[1].digest)
    bad.chmod(0o644)
    bad.write_bytes(bytes(len(bad.read_bytes())))  # bit rot: the bytes no longer match the digest
    manifest = Manifest(stream=definition.uri, definition=definition, chunks=chunks)
    index = ActivityStore(tmp_path / "activity.db")
    indexer = ActivityIndexer({definition.uri: Recorder(definition, manifest, None)}, store, index)
    asyncio.run(indexer.catch_up())
    asyncio.run(indexer.catch_up())  # a second pass does not try (and log) the bad chunk again
    assert index.stream(definition.uri).indexed_to == 144000
    assert len([r for r in caplog.records if "left out" in r.getMessage()]) == 1
    figures = index.blocks(definition.uri, 0, 30, 1)
    assert np.allclose(figures.rms_dbfs[:10], -23.0, atol=0.1) and np.allclose(figures.rms_dbfs[20:], -35.0, atol=0.1)
    assert np.isnan(figures.rms_dbfs[10:20]).all()  # the bad chunk alone; the next is read without its history
