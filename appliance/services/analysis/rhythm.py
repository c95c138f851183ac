"""Rhythm figures: onsets per channel, and the window's tempo and beats, from the channels' short spectrograms.

Libraries, and why:
- librosa (`feature.melspectrogram`, `onset.onset_strength`, `onset.onset_detect`): spectral-flux onsets,
  the standard method, from the short spectrogram `spectral` already made (5 ms steps: onsets land
  within a few ms; librosa's default 23 ms steps put them up to 24 ms late).
- librosa (`beat.beat_track`): Ellis' dynamic-programming beat tracker, twice (coarse, then fine; below);
  the tempo reported is fitted to its beats.
- librosa (`autocorrelate`) and scipy (`ndimage.maximum_filter1d`): the onset envelope's autocorrelation,
  its peaks widened first, for the tempo confidence.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import librosa
import numpy as np
from scipy import ndimage

from appliance.services.analysis.spectral import Spectrogram

MIN_BEATS = 4
"""Fewer tracked beats than this give no tempo."""

ONSET_DELTA = 2.0
"""An onset's strength must exceed its surroundings' mean by this: 2 finds every click, pluck and drum hit
of our test material and no onset in white noise or hiss, where librosa's default finds dozens."""

POOL = 4
"""The tempo is estimated on the onset envelope max-pooled 4:1 (about 21 ms steps, librosa's usual rate):
the tempogram's cost grows with the square of the frame rate, and finer steps do not help a tempo."""


@dataclass(frozen=True)
class Rhythm:
    """The window's tempo and beats; a None figure has its reason in `unavailable` under the same name."""

    tempo_bpm: float | None
    tempo_confidence: float | None
    beats_s: list[float]
    unavailable: dict[str, str] = field(default_factory=dict)


def onset_envelope(short: Spectrogram) -> np.ndarray:
    """librosa's default onset strength (mean positive log-mel flux), from the channel's short spectrogram."""
    with warnings.catch_warnings():
        # Below 44.1 kHz the short frames have too few bins for 128 mel bands; the empty bands add no flux.
        warnings.filterwarnings("ignore", message="Empty filters detected in mel frequency basis")
        mel = librosa.feature.melspectrogram(S=np.square(short.magnitude), sr=short.sample_rate, n_fft=short.n_fft)
    envelope: np.ndarray = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=short.sample_rate,
                                                        n_fft=short.n_fft, hop_length=short.hop)
    return envelope


def onsets_s(short: Spectrogram, envelope: np.ndarray) -> list[float]:
    """Onset times (s from the window start) by librosa's peak picking on the unnormalised envelope.

    librosa's default normalises the envelope to the window's largest peak, which makes onsets of
    the flutter of steady noise or a slow swell. Here a peak must rise ONSET_DELTA above the envelope's
    local mean (librosa's `delta`, in the envelope's own unit: mean dB rise per frame over mel bands),
    and its frame or one of the next four (about 20 ms) must be above -60 dBFS.
    """
    if not short.active.any() or not envelope.any():
        return []
    frames = librosa.onset.onset_detect(onset_envelope=envelope, sr=short.sample_rate, hop_length=short.hop,
                                        normalize=False, delta=ONSET_DELTA)
    kept = [int(f) for f in frames if short.active[int(f): int(f) + 5].any()]
    times = librosa.frames_to_time(np.asarray(kept, dtype=int), sr=short.sample_rate, hop_length=short.hop)
    return [float(t) for t in times]


def tempo_and_beats(envelope: np.ndarray, sample_rate: int, hop: int, most_onsets: int) -> Rhythm:
    """Tempo and beats of an onset envelope (the mean of the channels') with `hop` samples per frame.

    Two passes of librosa's beat tracker. The first, on the envelope max-pooled to ~21 ms, gives beats
    whose spacing fixes the tempo: 60 / the least-squares slope of beat time against beat number,
    far finer than librosa's tempogram bins (~5 bpm apart at 120 bpm). The second, on the full-rate
    envelope and told that tempo, places the beats to ~5 ms; the tempo is fitted again from them.
    A tracker told a tempo a bin off drifts off the beat by the window's end, hence the first pass.

    The confidence is the pooled envelope's normalised autocorrelation at one beat period (the best
    lag within ±1 frame, since the period is rarely a whole number of frames): 1 when every onset
    repeats a beat later, near 0 when the onsets have no period at that tempo.

    `most_onsets` is the largest number of onsets one channel has: below MIN_BEATS there is no pulse,
    and beats tracked through hiss or a swell would be noise.
    """
    unavailable: dict[str, str] = {}
    if most_onsets < MIN_BEATS:
        reason = f"{most_onsets} onsets in the busiest channel; a tempo needs {MIN_BEATS}"
        unavailable["tempo_bpm"] = unavailable["tempo_confidence"] = reason
        return Rhythm(None, None, [], unavailable)
    n_pooled = -(-envelope.shape[0] // POOL)
    padded = np.zeros(n_pooled * POOL, dtype=envelope.dtype)
    padded[: envelope.shape[0]] = envelope
    pooled = padded.reshape(n_pooled, POOL).max(axis=1)

    _, coarse_frames = librosa.beat.beat_track(onset_envelope=pooled, sr=sample_rate, hop_length=POOL * hop)
    coarse_period_s = _beat_period_s(librosa.frames_to_time(coarse_frames, sr=sample_rate, hop_length=POOL * hop))
    if coarse_period_s is None:
        reason = f"fewer than {MIN_BEATS} beats tracked"
        unavailable["tempo_bpm"] = unavailable["tempo_confidence"] = reason
        return Rhythm(None, None, [], unavailable)
    _, fine_frames = librosa.beat.beat_track(onset_envelope=envelope, sr=sample_rate, hop_length=hop,
                                             bpm=60.0 / coarse_period_s)
    beats = _on_the_pulse(librosa.frames_to_time(fine_frames, sr=sample_rate, hop_length=hop))
    period_s = _beat_period_s(beats) or coarse_period_s
    confidence = _periodicity(pooled, period_s * sample_rate / (POOL * hop))
    return Rhythm(60.0 / period_s, confidence, [float(t) for t in beats], unavailable)


def _on_the_pulse(beats: np.ndarray) -> np.ndarray:
    """The beats without a first or last one off the pulse (its interval a fifth or more off the median).

    Near a window's ends the tracker extrapolates, and can place a beat where no onset is (measured:
    a last beat 0.374 s after its neighbour in a 0.5 s pulse); it would tilt the tempo fit and mislead.
    """
    if beats.shape[0] < MIN_BEATS:
        return beats
    intervals = np.diff(beats)
    typical = float(np.median(intervals))
    first = 1 if abs(intervals[0] - typical) >= 0.2 * typical else 0
    last = beats.shape[0] - (1 if abs(intervals[-1] - typical) >= 0.2 * typical else 0)
    return beats[first:last]


def _beat_period_s(beats: np.ndarray) -> float | None:
    """Least-squares beat spacing in seconds, or None for fewer than MIN_BEATS beats."""
    if beats.shape[0] < MIN_BEATS:
        return None
    slope = float(np.polyfit(np.arange(beats.shape[0], dtype=np.float64), beats, 1)[0])
    return slope if slope > 0.0 else None


def _periodicity(envelope: np.ndarray, lag: float) -> float:
    """Normalised autocorrelation (0..1) of the onset envelope at `lag` frames (best within ±1 frame).

    Each peak is first widened to 3 frames (a max filter), so onsets a fraction of a frame off the
    period still meet; the mean is removed, and each lag's sum is scaled up for the frames it does not
    overlap, so a short window is not penalised.
    """
    widened = ndimage.maximum_filter1d(envelope, size=3)
    centred = widened - np.mean(widened)
    hi = int(np.ceil(lag)) + 1
    n = centred.shape[0]
    if hi >= n:
        return 0.0
    ac = librosa.autocorrelate(centred, max_size=hi + 1)
    if not ac[0] > 0.0:
        return 0.0
    lo = max(1, int(np.floor(lag)) - 1)
    lags = np.arange(lo, hi + 1)
    unbiased = ac[lo: hi + 1] * n / (n - lags)  # a lag of k frames overlaps only n - k of them
    return float(np.clip(np.max(unbiased) / ac[0], 0.0, 1.0))
