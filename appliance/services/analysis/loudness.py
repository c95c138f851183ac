"""Level figures of one channel at its own sample rate: loudness, peaks, RMS, clipping, silence.

Libraries, and why:
- pyloudnorm (`Meter`): ITU-R BS.1770-4 K-weighting and gating, the reference implementation others check against.
- scipy (`signal.resample_poly`): polyphase 4x oversampling for the BS.1770-4 annex 2 true peak, fast and well kept.
- numpy: sample peak, RMS, clip counting and 100 ms block levels, which are one reduction each.

Everything here runs on the channel as recorded (never on the resampled analysis
signal), so a level read here is the level of the stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyloudnorm
from scipy import signal

from appliance.services.analysis.audio_figures import CLIP_THRESHOLD, SILENCE_DBFS

SILENCE_BLOCK_S = 0.1

LOUDNESS_BLOCK_S = 0.4
"""BS.1770-4 gating block; a window shorter than this has no integrated loudness."""

SHORT_TERM_S = 3.0
SHORT_TERM_STEP_S = 0.1
"""EBU R128 / Tech 3341 short-term loudness: a 3 s sliding window, updated every 100 ms."""

ABSOLUTE_GATE_LUFS = -70.0

TRUE_PEAK_OVERSAMPLE = 4
"""BS.1770-4 annex 2 oversamples 4x at 48 kHz; rates of 96 kHz and more need only 2x."""
TRUE_PEAK_EDGE = 20
"""Input samples of filter context: twice the reach of resample_poly's default filter (10 input samples)."""
TRUE_PEAK_CHUNK = 1 << 18
"""Input samples oversampled at a time (5.5 s at 48 kHz): bounded memory for long windows."""


@dataclass(frozen=True)
class Levels:
    """What `measure_levels` found; a None figure has its reason in `unavailable` under the same name."""

    loudness_lufs: float | None
    loudness_short_term_max_lufs: float | None
    peak_dbfs: float | None
    true_peak_dbtp: float | None
    rms_dbfs: float | None
    crest_factor_db: float | None
    clipped_samples: int
    silent_fraction: float | None
    unavailable: dict[str, str] = field(default_factory=dict)


def to_db(amplitude: float) -> float:
    """20·log10 of a positive amplitude (callers rule out zero first)."""
    return 20.0 * math.log10(amplitude)


def measure_levels(x: np.ndarray, sample_rate: int) -> Levels:
    """The level figures of one channel `x` (1-D, full scale 1.0) sampled at `sample_rate`."""
    unavailable: dict[str, str] = {}
    n = x.shape[0]
    if n == 0:
        reason = "empty window: no samples"
        for name in ("loudness_lufs", "loudness_short_term_max_lufs", "peak_dbfs", "true_peak_dbtp",
                     "rms_dbfs", "crest_factor_db", "silent_fraction"):
            unavailable[name] = reason
        return Levels(None, None, None, None, None, None, 0, None, unavailable)

    x64 = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(x64)
    peak = float(np.max(magnitude))
    rms = math.sqrt(float(np.dot(x64, x64)) / n)
    clipped = int(np.count_nonzero(magnitude >= CLIP_THRESHOLD))
    silent_fraction = _silent_fraction(x64, sample_rate)

    if peak == 0.0:
        reason = "digital silence: every sample is 0"
        for name in ("peak_dbfs", "true_peak_dbtp", "rms_dbfs", "crest_factor_db"):
            unavailable[name] = reason
        peak_dbfs = true_peak_dbtp = rms_dbfs = crest_db = None
    else:
        peak_dbfs = to_db(peak)
        true_peak_dbtp = to_db(max(peak, _true_peak(x64, sample_rate)))
        rms_dbfs = to_db(rms)
        crest_db = peak_dbfs - rms_dbfs

    loudness = _integrated_loudness(x64, sample_rate, unavailable)
    short_term_max = _short_term_max_loudness(x64, sample_rate, unavailable)
    return Levels(loudness, short_term_max, peak_dbfs, true_peak_dbtp, rms_dbfs, crest_db, clipped,
                  silent_fraction, unavailable)


def _true_peak(x: np.ndarray, sample_rate: int, chunk: int = TRUE_PEAK_CHUNK) -> float:
    """Largest |x| between samples, 4x oversampled (2x at 96 kHz and up) with scipy's polyphase FIR.

    The first and last TRUE_PEAK_EDGE input samples are left out of the oversampled search: the window
    is cut from a longer recording, and the filter's ringing against the cut is no peak of the signal
    (the sample peak still covers them). The signal is oversampled `chunk` samples at a time, each
    with TRUE_PEAK_EDGE samples of context either side, which gives exactly what oversampling it
    whole would (resample_poly's filter reaches 10 input samples each way) without holding 4x the
    window in memory.
    """
    factor = TRUE_PEAK_OVERSAMPLE if sample_rate < 96_000 else 2
    n = x.shape[0]
    peak = 0.0
    for start in range(TRUE_PEAK_EDGE, n - TRUE_PEAK_EDGE, chunk):
        stop = min(start + chunk, n - TRUE_PEAK_EDGE)
        lo, hi = start - TRUE_PEAK_EDGE, stop + TRUE_PEAK_EDGE
        upsampled = signal.resample_poly(x[lo:hi], factor, 1)[TRUE_PEAK_EDGE * factor: (stop - lo) * factor]
        peak = max(peak, float(np.max(upsampled)), -float(np.min(upsampled)))
    return peak


def _silent_fraction(x: np.ndarray, sample_rate: int) -> float:
    """Share of 100 ms blocks (the last may be shorter) whose RMS is below -60 dBFS."""
    block = max(1, int(round(SILENCE_BLOCK_S * sample_rate)))
    n_blocks = -(-x.shape[0] // block)
    padded = np.zeros(n_blocks * block)
    padded[: x.shape[0]] = x
    sums = np.sum(np.square(padded).reshape(n_blocks, block), axis=1)
    lengths = np.full(n_blocks, block, dtype=np.float64)
    lengths[-1] = x.shape[0] - (n_blocks - 1) * block
    threshold = 10.0 ** (SILENCE_DBFS / 10.0)  # as mean square
    return float(np.count_nonzero(sums / lengths < threshold)) / n_blocks


def _integrated_loudness(x: np.ndarray, sample_rate: int, unavailable: dict[str, str]) -> float | None:
    """BS.1770-4 integrated loudness of `x` as a mono programme (pyloudnorm)."""
    if x.shape[0] < LOUDNESS_BLOCK_S * sample_rate:
        unavailable["loudness_lufs"] = "window shorter than the 400 ms BS.1770 gating block"
        return None
    lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))
    if not math.isfinite(lufs):
        unavailable["loudness_lufs"] = "silent: no 400 ms block above -70 LUFS"
        return None
    return lufs


def _short_term_max_loudness(x: np.ndarray, sample_rate: int, unavailable: dict[str, str]) -> float | None:
    """Loudest EBU R128 short-term loudness: ungated 3 s windows every 100 ms (pyloudnorm's block loudness)."""
    if x.shape[0] < SHORT_TERM_S * sample_rate:
        unavailable["loudness_short_term_max_lufs"] = "window shorter than the 3 s short-term window"
        return None
    meter = pyloudnorm.Meter(sample_rate, block_size=SHORT_TERM_S, overlap=1.0 - SHORT_TERM_STEP_S / SHORT_TERM_S)
    meter.integrated_loudness(x)  # fills meter.blockwise_loudness: one ungated figure per 3 s window
    blocks = np.asarray(meter.blockwise_loudness, dtype=np.float64)
    finite = blocks[np.isfinite(blocks)]
    if finite.size == 0 or float(np.max(finite)) < ABSOLUTE_GATE_LUFS:
        unavailable["loudness_short_term_max_lufs"] = "silent: no 3 s window above -70 LUFS"
        return None
    return float(np.max(finite))
