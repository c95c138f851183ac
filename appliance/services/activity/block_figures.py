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


MISSING_CDB = -32768
"""A level that was never indexed (int16's lowest value; real levels are floored at -12000 centi-dB)."""
LIMITS = {"onsets": 255, "clipped": 65535}  # counts saturate rather than wrap


@dataclass(frozen=True)
class BlockFigures:
    """Figures of consecutive blocks, each array shaped (blocks, channels), in the integer units the index keeps.

    Levels are centi-dBFS in int16 (MISSING_CDB where a block is not
    indexed) and brightness is whole Hz in uint16 (0 where a block is silent
    or not indexed): a day of 8 channels is 14 MB a figure, and integer
    arrays are searched at memory speed, where float16 would be converted
    first. The float views (`rms_dbfs`, ...) put NaN where nothing is known.
    """

    rms_cdb: np.ndarray  # int16
    peak_cdb: np.ndarray  # int16
    centroid_hz: np.ndarray  # uint16
    onsets: np.ndarray  # uint8, count per block
    clipped: np.ndarray  # uint16, samples at full scale per block

    @property
    def blocks(self) -> int:
        return int(self.rms_cdb.shape[0])

    @property
    def channels(self) -> int:
        return int(self.rms_cdb.shape[1])

    @property
    def rms_dbfs(self) -> np.ndarray:
        return _decibels(self.rms_cdb)

    @property
    def peak_dbfs(self) -> np.ndarray:
        return _decibels(self.peak_cdb)

    @property
    def brightness_hz(self) -> np.ndarray:
        return np.where(self.centroid_hz > 0, self.centroid_hz.astype(np.float32), np.float32(np.nan))

    @classmethod
    def from_floats(cls, rms_dbfs: np.ndarray, peak_dbfs: np.ndarray, centroid_hz: np.ndarray, onsets: np.ndarray,
                    clipped: np.ndarray) -> BlockFigures:
        """Figures in the index's units from dB and Hz (NaN: unknown) and counts."""
        return cls(_centi(rms_dbfs), _centi(peak_dbfs),
                   np.nan_to_num(np.clip(np.round(centroid_hz), 1, 65535), nan=0).astype(np.uint16),
                   np.clip(onsets, 0, LIMITS["onsets"]).astype(np.uint8),
                   np.clip(clipped, 0, LIMITS["clipped"]).astype(np.uint16))

    @classmethod
    def empty(cls, blocks: int, channels: int) -> BlockFigures:
        shape = (blocks, channels)
        return cls(np.full(shape, MISSING_CDB, np.int16), np.full(shape, MISSING_CDB, np.int16),
                   np.zeros(shape, np.uint16), np.zeros(shape, np.uint8), np.zeros(shape, np.uint16))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.rms_cdb, self.peak_cdb, self.centroid_hz, self.onsets, self.clipped


def _centi(dbfs: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.round(np.maximum(dbfs, FLOOR_DBFS) * 100), nan=MISSING_CDB).astype(np.int16)


def _decibels(centi: np.ndarray) -> np.ndarray:
    return np.where(centi == MISSING_CDB, np.float32(np.nan), centi.astype(np.float32) / 100)


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
    return BlockFigures.from_floats(rms[keep], _db(np.square(peak, dtype=np.float64))[keep], centroid[keep],
                                    onsets[keep], clipped[keep])


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
