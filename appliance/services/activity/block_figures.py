"""What each 100 ms block of each channel held: level, peak, clipping, brightness and onsets.

These are the activity index's figures, computed once per sealed chunk. They
must cost a few percent of one core for 8 channels at 48 kHz, so they are
plain numpy over whole blocks (one FFT per block and channel, no librosa):
`stream_analyze` is the place for the exact figures of a chosen window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.services.analysis.audio_figures import CLIP_THRESHOLD, SILENCE_DBFS

BLOCKS_PER_SECOND = 10
FLOOR_DBFS = -120.0
"""Levels are floored here: digital silence has no finite dB, and the index stores float16."""

ONSET_FRAMES_PER_BLOCK = 10  # onsets are found on 10 ms frames
ONSET_RISE_DB = 9.0  # a frame this much louder than the mean of the frames before it starts a sound
ONSET_HISTORY = 4  # frames in that mean


def block_samples(sample_rate: int) -> int:
    """Samples in one index block (100 ms)."""
    return max(ONSET_FRAMES_PER_BLOCK, sample_rate // BLOCKS_PER_SECOND)


@dataclass(frozen=True)
class BlockFigures:
    """Figures of consecutive blocks, each array shaped (blocks, channels); NaN where a block is not indexed."""

    rms_dbfs: np.ndarray
    peak_dbfs: np.ndarray
    centroid_hz: np.ndarray  # NaN for a silent block: it has no brightness
    onsets: np.ndarray  # count per block
    clipped: np.ndarray  # samples at full scale per block

    @property
    def blocks(self) -> int:
        return int(self.rms_dbfs.shape[0])

    @property
    def channels(self) -> int:
        return int(self.rms_dbfs.shape[1])

    @classmethod
    def empty(cls, blocks: int, channels: int) -> BlockFigures:
        nan = np.full((blocks, channels), np.nan, dtype=np.float32)
        zero = np.zeros((blocks, channels), dtype=np.int32)
        return cls(nan, nan.copy(), nan.copy(), zero, zero.copy())

    def take(self, rows: slice, channels: list[int] | None = None) -> BlockFigures:
        pick = slice(None) if channels is None else channels
        return BlockFigures(*(a[rows][:, pick] for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.rms_dbfs, self.peak_dbfs, self.centroid_hz, self.onsets, self.clipped


def measure_blocks(samples: np.ndarray, sample_rate: int, lead_blocks: int = 0) -> BlockFigures:
    """Figures of the whole blocks in `samples` (float32, (frames, channels), full scale 1.0).

    The first `lead_blocks` blocks are audio from before the range being
    indexed: they give the onset detector its history and are not returned.
    """
    size = block_samples(sample_rate)
    count = len(samples) // size
    channels = samples.shape[1]
    blocks = samples[:count * size].reshape(count, size, channels)
    energy = np.mean(np.square(blocks, dtype=np.float64), axis=1)
    rms = _db(energy)
    peak = np.max(np.abs(blocks), axis=1)
    clipped = np.count_nonzero(np.abs(blocks) >= CLIP_THRESHOLD, axis=1)
    centroid = _centroids(blocks, sample_rate)
    centroid[rms < SILENCE_DBFS] = np.nan
    onsets = _onsets(blocks)
    keep = slice(lead_blocks, None)
    return BlockFigures(rms[keep].astype(np.float32), _db(np.square(peak, dtype=np.float64))[keep].astype(np.float32),
                        centroid[keep].astype(np.float32), onsets[keep], clipped[keep].astype(np.int32))


def _db(mean_square: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(mean_square), FLOOR_DBFS)


def _centroids(blocks: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral centroid in Hz of each block and channel (Hann-windowed magnitude spectrum)."""
    size = blocks.shape[1]
    spectrum = np.abs(np.fft.rfft(blocks * np.hanning(size)[None, :, None].astype(np.float32), axis=1))
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    total = spectrum.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("f,bfc->bc", freqs, spectrum) / total


def _onsets(blocks: np.ndarray) -> np.ndarray:
    """Onsets per block and channel: a 10 ms frame that rises well above the frames just before it.

    A rise in frame energy is enough to count clicks, hits and note starts
    for the index, at a fraction of the cost of a spectral-flux detector.
    """
    count, size, channels = blocks.shape
    frame = size // ONSET_FRAMES_PER_BLOCK
    frames = blocks[:, :frame * ONSET_FRAMES_PER_BLOCK].reshape(count * ONSET_FRAMES_PER_BLOCK, frame, channels)
    level = _db(np.mean(np.square(frames, dtype=np.float64), axis=1))
    out = np.zeros((count, channels), dtype=np.int32)
    if len(level) <= ONSET_HISTORY:
        return out
    window = np.lib.stride_tricks.sliding_window_view(level[:-1], ONSET_HISTORY, axis=0)  # (n, channels, history)
    before = window.mean(axis=-1)
    now = level[ONSET_HISTORY:]
    candidates = (now - before >= ONSET_RISE_DB) & (now >= SILENCE_DBFS)
    for index, channel in zip(*np.nonzero(candidates)):
        out[(index + ONSET_HISTORY) // ONSET_FRAMES_PER_BLOCK, channel] += 1
    # Refractory: candidates in consecutive frames are one onset (a rise spans a frame or two).
    runs = candidates[1:] & candidates[:-1]
    for index, channel in zip(*np.nonzero(runs)):
        out[(index + 1 + ONSET_HISTORY) // ONSET_FRAMES_PER_BLOCK, channel] -= 1
    return np.maximum(out, 0)
