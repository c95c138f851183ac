"""The analysis behind `stream_analyze` for audio: numpy samples in, typed figures (audio_figures.py) out.

No I/O here. `analyze_audio` takes the window's samples (float, full scale 1.0, one column per
channel) and returns `AudioFigures`: per channel the levels (`loudness`), the spectral and tonal
figures (`spectral`) and onsets (`rhythm`), and for the window its tempo, beats and stereo correlation.

Levels are measured at the recorded rate, and so are the short spectrogram's figures (onsets, beats,
centroid, flatness). Chroma, key and pitch are read from a copy resampled once to 22050 Hz, librosa's
default analysis rate, whose long STFT they share. No STFT is computed twice.

Libraries, and why:
- librosa (`resample`, soxr underneath): one fast, high-quality resample of all channels to the analysis rate.
- numpy (`corrcoef`): the Pearson stereo correlation, one call.
- the rest: see `loudness`, `spectral` and `rhythm`.

A figure that cannot be had is None, never NaN or infinity, and `unavailable` says why under the
figure's name.
"""

from __future__ import annotations

import librosa
import numpy as np

from appliance.services.analysis.audio_figures import SILENCE_DBFS, AudioFigures, ChannelFigures
from appliance.services.analysis.loudness import measure_levels
from appliance.services.analysis.rhythm import onset_envelope, onsets_s, tempo_and_beats
from appliance.services.analysis.spectral import (
    ANALYSIS_RATE_HZ,
    Spectrogram,
    long_spectrogram,
    no_tonal,
    short_spectrogram,
    tonal_figures,
)


def analyze_audio(samples: np.ndarray, sample_rate: int, channel_indexes: list[int]) -> AudioFigures:
    """The figures of a window: `samples` (n_samples, n_channels), full scale 1.0, columns named by `channel_indexes`."""
    if samples.ndim != 2:
        raise ValueError(f"samples must be 2-D (n_samples, n_channels), not {samples.ndim}-D")
    if samples.shape[1] != len(channel_indexes):
        raise ValueError(f"{samples.shape[1]} columns but {len(channel_indexes)} channel indexes")
    if not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"samples must be float with full scale 1.0, not {samples.dtype}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    if not np.isfinite(samples).all():
        raise ValueError("samples must be finite")

    n_samples = samples.shape[0]
    unavailable: dict[str, str] = {}
    if n_samples == 0:
        analysis = np.zeros((samples.shape[1], 0), dtype=np.float32)
    elif sample_rate == ANALYSIS_RATE_HZ:
        analysis = np.ascontiguousarray(samples.T, dtype=np.float32)
    else:
        analysis = librosa.resample(np.ascontiguousarray(samples.T, dtype=np.float32), orig_sr=sample_rate,
                                    target_sr=ANALYSIS_RATE_HZ)

    channels: list[ChannelFigures] = []
    envelopes: list[np.ndarray] = []
    hop = most_onsets = 0
    for column, channel in enumerate(channel_indexes):
        figures, short, envelope = _channel(samples[:, column], sample_rate, analysis[column], channel)
        channels.append(figures)
        if short is not None and envelope is not None and short.active.any():
            envelopes.append(envelope)
            hop = short.hop
        most_onsets = max(most_onsets, len(figures.onsets_s))

    if envelopes:
        rhythm = tempo_and_beats(np.mean(envelopes, axis=0), sample_rate, hop, most_onsets)
        tempo_bpm, tempo_confidence, beats_s = rhythm.tempo_bpm, rhythm.tempo_confidence, rhythm.beats_s
        unavailable.update(rhythm.unavailable)
    else:
        tempo_bpm = tempo_confidence = None
        beats_s = []
        reason = "empty window" if n_samples == 0 else f"silent: no channel has a frame above {SILENCE_DBFS:.0f} dBFS"
        unavailable["tempo_bpm"] = unavailable["tempo_confidence"] = reason

    return AudioFigures(
        channels=channels,
        tempo_bpm=tempo_bpm,
        tempo_confidence=tempo_confidence,
        beats_s=beats_s,
        stereo_correlation=_stereo_correlation(samples, unavailable),
        duration_s=n_samples / sample_rate,
        sample_rate_hz=sample_rate,
        unavailable=unavailable,
    )


def _channel(x: np.ndarray, sample_rate: int, y: np.ndarray,
             channel: int) -> tuple[ChannelFigures, Spectrogram | None, np.ndarray | None]:
    """One channel's figures, with its short spectrogram and onset envelope for the window-wide rhythm."""
    levels = measure_levels(x, sample_rate)
    short: Spectrogram | None = None
    envelope: np.ndarray | None = None
    onsets: list[float] = []
    if x.shape[0] == 0:
        tonal = no_tonal("empty window: no samples")
    else:
        short = short_spectrogram(x, sample_rate)
        envelope = onset_envelope(short)
        onsets = onsets_s(short, envelope)
        tonal = tonal_figures(short, long_spectrogram(y))
    figures = ChannelFigures(
        channel=channel,
        loudness_lufs=levels.loudness_lufs,
        loudness_short_term_max_lufs=levels.loudness_short_term_max_lufs,
        peak_dbfs=levels.peak_dbfs,
        true_peak_dbtp=levels.true_peak_dbtp,
        rms_dbfs=levels.rms_dbfs,
        crest_factor_db=levels.crest_factor_db,
        clipped_samples=levels.clipped_samples,
        silent_fraction=levels.silent_fraction,
        pitch_hz=tonal.pitch_hz,
        pitch_confidence=tonal.pitch_confidence,
        pitch_note=tonal.pitch_note,
        key=tonal.key,
        key_confidence=tonal.key_confidence,
        chroma=tonal.chroma,
        spectral_centroid_hz=tonal.spectral_centroid_hz,
        spectral_flatness=tonal.spectral_flatness,
        onsets_s=onsets,
        unavailable={**levels.unavailable, **tonal.unavailable},
    )
    return figures, short, envelope


def _stereo_correlation(samples: np.ndarray, unavailable: dict[str, str]) -> float | None:
    """Pearson correlation of the first two columns at the recorded rate."""
    if samples.shape[1] < 2:
        unavailable["stereo_correlation"] = "fewer than two channels"
        return None
    left, right = samples[:, 0], samples[:, 1]
    if left.shape[0] < 2:
        unavailable["stereo_correlation"] = "fewer than two samples"
        return None
    if float(np.ptp(left)) == 0.0 or float(np.ptp(right)) == 0.0:
        unavailable["stereo_correlation"] = "a channel is constant (silent): correlation undefined"
        return None
    return float(np.clip(np.corrcoef(left, right)[0, 1], -1.0, 1.0))  # computed in float64 by numpy
