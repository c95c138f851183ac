"""Spectral and tonal figures of one channel: centroid, flatness, chroma, key and pitch.

Two spectrograms, one per resolution the figures need, each computed once and shared:
- a short one at the recorded rate (about 21 ms frames every 5 ms at 48 kHz): onsets and beats
  (`rhythm`) need its time resolution, centroid and flatness its full band;
- a long one on a copy at 22050 Hz (librosa's default rate: 93 ms frames every 23 ms): chroma needs
  its 11 Hz bins, and YIN reads the same copy.

Libraries, and why:
- librosa (`stft`, `feature.rms`): the spectrograms and the frame levels that decide which frames are analysed.
- librosa (`feature.spectral_flatness`, `fft_frequencies`): the standard definitions, from the short STFT;
  the centroid is librosa's definition computed as one matrix product (librosa's own call is 5x slower).
- librosa (`estimate_tuning`, `feature.chroma_stft`): tuning-corrected chroma from the long STFT.
- librosa (`yin`): YIN f0 per frame, far faster than pYIN (which decodes an HMM); its confidence is ours (below).
- numpy: the Krumhansl-Kessler key correlation and the dominant-pitch vote, a few lines each.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import librosa
import numpy as np

from appliance.pitches import PITCH_CLASSES

ANALYSIS_RATE_HZ = 22050
LONG_N_FFT = 2048
"""93 ms frames at 22050 Hz, librosa's default."""
LONG_HOP = 512
"""23 ms between long frames, librosa's default."""
YIN_HOP = 2 * LONG_HOP
"""YIN every other long frame: a dominant pitch needs no more, and YIN is the costliest step."""
TUNING_MAX_FRAMES = 500
"""librosa's tuning estimate reads at most this many (evenly spread) active frames: it is a window-wide
figure, and piptrack on every frame of a minute costs more than the chroma itself."""

SHORT_FRAME_S = 1024 / 48_000
"""Short frames of about 21 ms (1024 samples at 48 kHz), a power of two at any rate, hop a quarter of that."""

ACTIVE_DBFS = -60.0
"""A frame whose RMS is below this is left out of every per-frame figure (same threshold as silent_fraction)."""

PITCH_FMIN_HZ = 32.703  # C1, about the lowest note a Eurorack bass voice plays
PITCH_FMAX_HZ = 2093.005  # C7, librosa's recommended YIN ceiling
PERIODIC_MIN = 0.5
"""A frame counts towards the pitch when its autocorrelation one YIN period later is at least this
(1 for a steady tone; a tone with as much noise as signal reads about 0.5; noise about 0)."""
PITCH_MIN_CONFIDENCE = 0.3
"""Below this share of agreeing frames there is no dominant pitch (noise, drums, chords that move)."""

FLAT_CHROMA = 0.6
"""No key when the weakest pitch class has this share of the strongest's energy or more: noise, hiss and
drums read 0.8 or more; chords, melodies and basslines 0.3 or less."""


# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Spectrogram:
    """A channel's STFT magnitude at one resolution, and which of its frames carry sound."""

    y: np.ndarray  # the channel at sample_rate
    sample_rate: int
    n_fft: int
    hop: int
    magnitude: np.ndarray  # |STFT|, shape (1 + n_fft // 2, n_frames), centred frames
    active: np.ndarray  # bool per frame: RMS at or above ACTIVE_DBFS


@dataclass(frozen=True)
class Tonal:
    """Spectral and tonal figures; a None figure has its reason in `unavailable` under the same name."""

    spectral_centroid_hz: float | None
    spectral_flatness: float | None
    chroma: list[float] | None
    key: str | None
    key_confidence: float | None
    pitch_hz: float | None
    pitch_confidence: float | None
    pitch_note: str | None
    unavailable: dict[str, str] = field(default_factory=dict)


def short_n_fft(sample_rate: int) -> int:
    """The power of two nearest SHORT_FRAME_S at `sample_rate` (1024 at 44.1 and 48 kHz), at least 256."""
    return max(256, 2 ** round(math.log2(SHORT_FRAME_S * sample_rate)))


def spectrogram(y: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> Spectrogram:
    """The STFT magnitude of `y` (centred Hann frames), with the frames loud enough to analyse."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.* is too large")  # a window shorter than one frame
        # Reflected, not silent, padding at the ends: the window is cut from a running recording, and a
        # frame of zeros before it would make an onset of the cut.
        magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, pad_mode="reflect"))
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)[0]
    active = rms[: magnitude.shape[1]] >= 10.0 ** (ACTIVE_DBFS / 20.0)
    return Spectrogram(y=y, sample_rate=sample_rate, n_fft=n_fft, hop=hop, magnitude=magnitude, active=active)


def short_spectrogram(x: np.ndarray, sample_rate: int) -> Spectrogram:
    """The short-frame spectrogram of a channel at its recorded rate (onsets, beats, centroid, flatness)."""
    n_fft = short_n_fft(sample_rate)
    return spectrogram(np.asarray(x, dtype=np.float32), sample_rate, n_fft, n_fft // 4)


def long_spectrogram(y: np.ndarray) -> Spectrogram:
    """The long-frame spectrogram of a channel already at ANALYSIS_RATE_HZ (chroma, key, pitch)."""
    return spectrogram(y, ANALYSIS_RATE_HZ, LONG_N_FFT, LONG_HOP)


def no_tonal(reason: str) -> Tonal:
    """No spectral or tonal figure, for one reason."""
    names = ("spectral_centroid_hz", "spectral_flatness", "chroma", "key", "key_confidence",
             "pitch_hz", "pitch_confidence", "pitch_note")
    return Tonal(None, None, None, None, None, None, None, None, dict.fromkeys(names, reason))


def tonal_figures(short: Spectrogram, long: Spectrogram) -> Tonal:
    """Centroid and flatness over the short spectrogram's active frames; chroma, key and pitch over the long one's."""
    silent = f"silent: no frame above {ACTIVE_DBFS:.0f} dBFS RMS"
    if not short.active.any() and not long.active.any():
        return no_tonal(silent)
    unavailable: dict[str, str] = {}

    centroid: float | None = None
    flatness: float | None = None
    if short.active.any():
        magnitude = short.magnitude[:, short.active]
        centroid = float(np.mean(_centroids_hz(magnitude, short.sample_rate, short.n_fft)))
        flatness = float(np.mean(librosa.feature.spectral_flatness(S=magnitude)))
    else:
        unavailable["spectral_centroid_hz"] = unavailable["spectral_flatness"] = silent

    if long.active.any():
        chroma, key, key_confidence = _chroma_and_key(long, unavailable)
        pitch_hz, pitch_confidence, pitch_note = _dominant_pitch(long, unavailable)
    else:
        reason = f"no frame above {ACTIVE_DBFS:.0f} dBFS RMS below {ANALYSIS_RATE_HZ // 2} Hz"
        for name in ("chroma", "key", "key_confidence", "pitch_hz", "pitch_confidence", "pitch_note"):
            unavailable[name] = reason
        chroma = key = key_confidence = pitch_hz = pitch_confidence = pitch_note = None
    return Tonal(centroid, flatness, chroma, key, key_confidence, pitch_hz, pitch_confidence, pitch_note,
                 unavailable)


def _centroids_hz(magnitude: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """Each frame's spectral centroid: librosa.feature.spectral_centroid's definition (the magnitude-weighted
    mean of librosa.fft_frequencies), as one matrix product; librosa's normalises a copy of the whole
    spectrogram first and takes five times as long."""
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft).astype(magnitude.dtype)
    totals = np.sum(magnitude, axis=0)
    return np.asarray(freqs @ magnitude, dtype=np.float64) / np.maximum(totals, np.finfo(np.float32).tiny)


def _chroma_and_key(long: Spectrogram, unavailable: dict[str, str]) -> tuple[list[float] | None, str | None,
                                                                             float | None]:
    """Mean of per-frame chroma over active frames (tuning estimated by librosa), scaled to max 1; key by
    Krumhansl-Kessler."""
    power = np.square(long.magnitude[:, long.active])
    stride = max(1, power.shape[1] // TUNING_MAX_FRAMES)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
        tuning = float(librosa.estimate_tuning(S=power[:, ::stride], sr=long.sample_rate, n_fft=long.n_fft))
    per_frame = librosa.feature.chroma_stft(S=power, sr=long.sample_rate, n_fft=long.n_fft, tuning=tuning)
    mean = np.mean(per_frame, axis=1)
    top = float(np.max(mean))
    if not top > 0.0:
        for name in ("chroma", "key", "key_confidence"):
            unavailable[name] = "no pitched energy in the active frames"
        return None, None, None
    chroma = mean / top
    if float(np.min(chroma)) >= FLAT_CHROMA:
        reason = (f"no key: chroma is flat (every pitch class has at least {FLAT_CHROMA:.0%} of the "
                  f"strongest's energy), as for noise or drums")
        unavailable["key"] = unavailable["key_confidence"] = reason
        return [float(v) for v in chroma], None, None
    best_r, best_name = -2.0, ""
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best_r, best_name = r, f"{PITCH_CLASSES[tonic]} {mode}"
    return [float(v) for v in chroma], best_name, max(0.0, best_r)


def _dominant_pitch(long: Spectrogram, unavailable: dict[str, str]) -> tuple[float | None, float | None,
                                                                             str | None]:
    """The f0 that most active frames agree on, by YIN.

    YIN gives an f0 for every frame, noise or not, and librosa does not return how periodic the frame
    was. So each active frame's f0 is checked: the frame's normalised autocorrelation at the period YIN
    chose must be at least PERIODIC_MIN (1 for a steady tone, near 0 for noise). Over the periodic
    frames we take the f0 (in semitones) with the most others within ±50 cents; the pitch is that
    cluster's median, and the confidence is the cluster's share of all active frames: 1.0 for a held
    note, about 1/k for k notes played equally long, near 0 for noise or drums.
    """
    f0 = librosa.yin(long.y, fmin=PITCH_FMIN_HZ, fmax=PITCH_FMAX_HZ, sr=long.sample_rate,
                     frame_length=long.n_fft, hop_length=YIN_HOP)
    active = long.active[:: YIN_HOP // long.hop]  # YIN's frames are every other long frame, centred alike
    n = min(f0.shape[0], active.shape[0])
    chosen = np.flatnonzero(active[:n] & np.isfinite(f0[:n]) & (f0[:n] > 0))
    frames = librosa.util.frame(np.pad(long.y, long.n_fft // 2), frame_length=long.n_fft, hop_length=YIN_HOP)
    periodic = _periodicity(frames[:, chosen], long.sample_rate / f0[chosen]) >= PERIODIC_MIN
    voiced = f0[chosen][periodic]
    if voiced.size == 0:
        for name in ("pitch_hz", "pitch_note"):
            unavailable[name] = (f"no dominant pitch: no active frame is periodic (autocorrelation "
                                   f">= {PERIODIC_MIN} at its YIN period)")
        return None, 0.0, None
    semitones = np.sort(12.0 * np.log2(voiced / 440.0))
    within = (np.searchsorted(semitones, semitones + 0.5, side="right")
              - np.searchsorted(semitones, semitones - 0.5, side="left"))
    centre = semitones[int(np.argmax(within))]
    cluster = semitones[np.abs(semitones - centre) <= 0.5]
    confidence = cluster.size / max(1, int(np.count_nonzero(active[:n])))
    if confidence < PITCH_MIN_CONFIDENCE:
        reason = (f"no dominant pitch: only {confidence:.0%} of active frames agree within ±50 cents "
                  f"(needs {PITCH_MIN_CONFIDENCE:.0%})")
        unavailable["pitch_hz"] = unavailable["pitch_note"] = reason
        return None, confidence, None
    pitch_hz = 440.0 * 2.0 ** (float(np.median(cluster)) / 12.0)
    return pitch_hz, confidence, note_name(pitch_hz)


def _periodicity(frames: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of each frame (column) at its own period in samples (rounded).

    Each frame compares its first n_fft - max_period samples with the same length one period later,
    so every frame is measured over the same span. Frames are taken a lag at a time (a held note has
    few distinct lags), which keeps every product a plain slice.
    """
    result = np.zeros(frames.shape[1])
    if frames.shape[1] == 0:
        return result
    lags = np.clip(np.rint(period).astype(int), 1, frames.shape[0] - 1)
    span = frames.shape[0] - int(np.max(lags))
    for lag in np.unique(lags):
        columns = np.flatnonzero(lags == lag)
        head = frames[:span, columns].astype(np.float64)
        later = frames[lag: lag + span, columns].astype(np.float64)
        energy = np.sqrt(np.einsum("ij,ij->j", head, head) * np.einsum("ij,ij->j", later, later))
        dot = np.einsum("ij,ij->j", head, later)
        result[columns] = np.where(energy > 0.0, dot / np.where(energy > 0.0, energy, 1.0), 0.0)
    return result


def note_name(hz: float) -> str:
    """Nearest equal-tempered note (A4 = 440 Hz) in scientific pitch notation with sharps: 'A4', 'C#3'."""
    return str(librosa.hz_to_note(hz, unicode=False))
