"""The activity index's two costs: keeping it as 8 channels record, and searching a day of it.

"index cost": CPU time to index sealed chunks of 8-channel 48 kHz s32 audio
(read back from CAS, digest-checked, measured, stored in sqlite), beside the
CPU time of sealing those chunks, the work the box does for them anyway. The
issue's target: at most 5 % of one core, i.e. 0.05 CPU seconds per second of
audio.

"stream_find over 24 h": the finder over a synthetic day of 8-channel
history (864,000 blocks), against numpy reading the one figure the query
needs from a flat .npy file, the least any design has to do. The issue's
target: under 100 ms.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np

from appliance.cas import ContentStore
from appliance.proto.stream_definition import StreamDefinition
from appliance.services.activity.activity_store import PAGE_BLOCKS, ActivityStore, IndexedStream
from appliance.services.activity.block_figures import BLOCKS_PER_SECOND, BlockFigures, block_samples
from appliance.services.activity.finder import FindRequest, find
from appliance.services.activity.index_window import IndexWindow
from appliance.services.activity.indexer import ActivityIndexer
from appliance.services.capture.manifest import ChunkRef, Manifest
from appliance.services.capture.recorder import Recorder
from bench.report import figure, median_seconds, scratch_dir

RATE, CHANNELS = 48_000, 8
CHUNK_SAMPLES = 131_072  # the default chunk
AUDIO_SECONDS = 60
DAY_BLOCKS = 24 * 3600 * BLOCKS_PER_SECOND
REPEATS = 5


def main() -> None:
    with scratch_dir("bench-activity-") as root:
        index_cost(root)
        find_speed(root)


def index_cost(root: Path) -> None:
    store = ContentStore(root / "cas")
    definition = StreamDefinition.parse({"uri": "stream://bench/eight", "device": "sim", "channels": CHANNELS,
                                         "sample_format": "s32", "chunk_samples": CHUNK_SAMPLES})
    rng = np.random.default_rng(1)
    chunks, seal_cpu = [], 0.0
    for i in range(AUDIO_SECONDS * RATE // CHUNK_SAMPLES):
        audio = (rng.standard_normal((CHUNK_SAMPLES, CHANNELS)) * 0.1 * 2 ** 31).astype("<i4").tobytes()
        staging = store.create_staging()
        staging.path.write_bytes(audio)
        began = time.process_time()
        digest = store.seal(staging.path)
        seal_cpu += time.process_time() - began
        chunks.append(ChunkRef(digest=digest, first_sample=i * CHUNK_SAMPLES, samples=CHUNK_SAMPLES,
                               bytes=len(audio)))
    manifest = Manifest(stream=definition.uri, definition=definition, chunks=chunks)
    index = ActivityStore(root / "activity.db")
    indexer = ActivityIndexer({definition.uri: Recorder(definition, manifest, None)}, store, index)
    began = time.process_time()
    asyncio.run(indexer.catch_up())
    index_cpu = time.process_time() - began
    seconds = len(chunks) * CHUNK_SAMPLES / RATE
    print(f"activity index: {100 * index_cpu / seconds:.2f} % of one core for {CHANNELS} channels at 48 kHz "
          f"(target at most 5 %)", flush=True)
    figure(f"activity index CPU per audio second, {CHANNELS} ch 48 kHz s32", index_cpu / seconds,
           seal_cpu / seconds, "sealing the same chunks", "s", higher_is_better=False)


def find_speed(root: Path) -> None:
    index = ActivityStore(root / "day.db")
    uri = "stream://bench/day"
    stream = IndexedStream(uri, "audio", RATE, CHANNELS, block_samples(RATE), 0, DAY_BLOCKS * block_samples(RATE))
    index.begin(stream)
    rng = np.random.default_rng(2)
    peaks = np.empty((DAY_BLOCKS, CHANNELS), dtype=np.float32)
    for first in range(0, DAY_BLOCKS, PAGE_BLOCKS * 64):
        count = min(PAGE_BLOCKS * 64, DAY_BLOCKS - first)
        level = rng.uniform(-70, -10, (count, CHANNELS)).astype(np.float32)
        level[rng.random((count, CHANNELS)) < 0.3] = -110  # stretches of silence
        peaks[first:first + count] = level + 6
        figures = BlockFigures.from_floats(level, level + 6, rng.uniform(100, 8000, (count, CHANNELS)),
                                           rng.integers(0, 3, (count, CHANNELS)), np.zeros((count, CHANNELS)))
        index.add_blocks(uri, first, figures, (first + count) * stream.block_samples)
    np.save(root / "peaks.npy", np.round(peaks * 100).astype(np.int16))  # as the index keeps it: centi-dB
    window = IndexWindow(index.stream(uri) or stream, Manifest(stream=uri, definition=StreamDefinition.parse(
        {"uri": uri, "device": "sim", "channels": CHANNELS})), 0, stream.indexed_to, time.time_ns())
    released = lambda first, end, channel: None  # noqa: E731 - a day old: the audio itself is gone
    for query in ("loudest", "sound_starts", "change"):
        request = FindRequest(query=query, limit=10, channels=None, silence_dbfs=-60, min_silence_s=1.0, pitch=None)
        ours = median_seconds(lambda: find(window, index, request, released), REPEATS)
        peer = median_seconds(lambda: np.load(root / "peaks.npy").max(axis=1), REPEATS)
        print(f"stream_find {query} over 24 h x {CHANNELS} ch: {1000 * ours:.0f} ms (target under 100 ms)",
              flush=True)
        figure(f"stream_find {query}, 24 h x {CHANNELS} ch", ours, peer, "numpy reading one figure from .npy", "s",
               higher_is_better=False)
    os.remove(root / "peaks.npy")
