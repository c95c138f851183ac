"""Materializing a 60 s stereo 48 kHz s32 slice from many sealed chunks, against `sox ... trim` on one WAV.

The recording is 90 s in 131072-frame chunks sealed in a real ContentStore;
the slice starts 15 s in, mid-chunk. sox trims the same 60 s from the same
audio held in one WAV file. Both read from the page cache and write to the
same directory. The issue's target: at least as fast as sox (and, for issue 22, 3x). A slice as recorded
is copied chunk file to WAV by copy_file_range, after each chunk is checked against its digest, which sox
does not do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.cas import ContentStore
from appliance.proto.stream_definition import StreamDefinition
from appliance.services.capture.manifest import ChunkRef, Manifest
from appliance.services.slicing.slicer import slice_stream
from bench.report import figure, median_seconds, require, scratch_dir

RATE = 48000
CHANNELS = 2
CHUNK_FRAMES = 131072
RECORDING_S = 90
START_S, SLICE_S = 15, 60
REPEATS = 7


def main() -> None:
    require("sox", "slice_vs_sox", "make bench installs it")
    with scratch_dir("bench-slice-") as root:
        run(root)


def run(root: Path) -> None:
    audio = np.random.default_rng(1).integers(-(1 << 31), 1 << 31, (RECORDING_S * RATE, CHANNELS), dtype=np.int32)
    store = ContentStore(root / "cas")
    manifest = record(store, audio)
    source = root / "source.wav"
    sf.write(str(source), audio, RATE, subtype="PCM_32")
    start, end = START_S * RATE, (START_S + SLICE_S) * RATE
    # Each run writes a new file, as a slice does (into a fresh staging name): overwriting or deleting the last
    # run's output would time the filesystem freeing it. They all go with the scratch directory.
    outputs: dict[str, list[Path]] = {"sox": [], "ours": []}

    def fresh(name: str) -> Path:
        outputs[name].append(root / f"{name}-{len(outputs[name])}.wav")
        return outputs[name][-1]

    sox_s = median_seconds(lambda: subprocess.run(["sox", str(source), str(fresh("sox")), "trim", f"{start}s",
                                                   f"{end - start}s"], check=True), REPEATS)
    ours_s = median_seconds(lambda: slice_stream(manifest, store, start, end, fresh("ours")), REPEATS)
    sox_out, ours_out = outputs["sox"][-1], outputs["ours"][-1]
    if not np.array_equal(sf.read(str(ours_out), dtype="int32")[0], sf.read(str(sox_out), dtype="int32")[0]):
        raise SystemExit("slice_vs_sox: our slice and sox's differ")
    figure("slice 60 s stereo 48 kHz s32 from 131072-frame chunks", ours_s, sox_s, "sox trim", "s",
           higher_is_better=False, target=1.0)


def record(store: ContentStore, audio: np.ndarray) -> Manifest:
    """The audio as a stopped stream: sealed chunks of CHUNK_FRAMES, as hootenanny leaves them."""
    definition = StreamDefinition(uri="stream://bench/main", device="sim", sample_rate=RATE, channels=CHANNELS,
                                  sample_format="s32", chunk_samples=CHUNK_FRAMES)
    manifest = Manifest(stream=definition.uri, definition=definition, state="stopped")
    for first in range(0, len(audio), CHUNK_FRAMES):
        data = audio[first: first + CHUNK_FRAMES].tobytes()
        manifest.chunks.append(ChunkRef(digest=store.put(data), first_sample=first,
                                        samples=len(data) // definition.frame_bytes, bytes=len(data)))
    return manifest


if __name__ == "__main__":
    main()
