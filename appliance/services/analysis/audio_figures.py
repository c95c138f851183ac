"""The figures `stream_analyze` gives for a window of audio: numpy samples in, typed results out.

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
from pydantic import Field

from appliance.services.analysis.loudness import CLIP_THRESHOLD, SILENCE_DBFS, measure_levels
from appliance.services.analysis.rhythm import onset_envelope, onsets_s, tempo_and_beats
from appliance.services.analysis.spectral import (
    ANALYSIS_RATE_HZ,
    Spectrogram,
    long_spectrogram,
    no_tonal,
    short_spectrogram,
    tonal_figures,
)
from appliance.services.results import ResultModel

UNAVAILABLE_DESCRIPTION = "why each figure that is null is null, keyed by the figure's field name"


class ChannelFigures(ResultModel):
    """The figures of one channel over the window; a null figure has its reason in `unavailable`."""

    channel: int = Field(description="the stream's channel number of this column")
    loudness_lufs: float | None = Field(
        description="integrated loudness in LUFS, ITU-R BS.1770-4 (K-weighted, gated), the channel taken as mono")
    loudness_short_term_max_lufs: float | None = Field(
        description="loudest short-term loudness in LUFS: EBU R128 3 s windows every 100 ms, ungated")
    peak_dbfs: float | None = Field(description="sample peak in dBFS (full scale 1.0 = 0 dBFS)")
    true_peak_dbtp: float | None = Field(
        description="true peak in dBTP, ITU-R BS.1770-4 annex 2: 4x oversampled (2x at 96 kHz and up)")
    rms_dbfs: float | None = Field(
        description="RMS level in dBFS relative to full scale 1.0 (a full-scale sine reads -3.01, no AES17 +3 dB)")
    crest_factor_db: float | None = Field(description="peak_dbfs - rms_dbfs in dB (a sine: 3.01)")
    clipped_samples: int = Field(
        description=f"count of samples (not runs) with |x| >= {CLIP_THRESHOLD} of full scale (-0.0087 dBFS)")
    silent_fraction: float | None = Field(
        description=f"fraction 0..1 of 100 ms blocks whose RMS is below {SILENCE_DBFS:.0f} dBFS")
    pitch_hz: float | None = Field(
        description="dominant f0 in Hz (YIN on frames above -60 dBFS): median of the largest ±50-cent cluster")
    pitch_confidence: float | None = Field(
        description="0..1: share of the frames above -60 dBFS that are periodic (autocorrelation >= 0.5 at "
                    "their YIN period) and in that cluster; below 0.3 pitch_hz is null")
    pitch_note: str | None = Field(description="nearest equal-tempered note to pitch_hz (A4 = 440 Hz), e.g. 'A4', 'C#3'")
    key: str | None = Field(
        description="Krumhansl-Kessler key of the chroma, e.g. 'A minor' (sharps, not flats); null when the "
                    "chroma is flat (noise, drums)")
    key_confidence: float | None = Field(
        description="0..1: Pearson correlation of the chroma with the key's profile (relative keys come close)")
    chroma: list[float] | None = Field(
        min_length=12, max_length=12,
        description="12 pitch-class energies C, C#, ..., B (tuning-corrected, below 11 kHz): the mean of librosa's "
                    "per-frame chroma over frames above -60 dBFS, scaled so the largest is 1")
    spectral_centroid_hz: float | None = Field(
        description="mean spectral centroid in Hz over ~21 ms frames above -60 dBFS, full band")
    spectral_flatness: float | None = Field(
        description="mean spectral flatness 0..1 over ~21 ms frames above -60 dBFS: 0 a pure tone, 1 white noise")
    onsets_s: list[float] = Field(
        description="onset times in seconds from the window start (~5 ms grid); empty when none or silent")
    unavailable: dict[str, str] = Field(description=UNAVAILABLE_DESCRIPTION)


class AudioFigures(ResultModel):
    """What `stream_analyze` reports for a window of audio: each channel's figures, and the window's rhythm."""

    channels: list[ChannelFigures] = Field(description="one entry per analysed channel, in the order asked")
    tempo_bpm: float | None = Field(
        description="tempo in beats per minute: 60 / the mean spacing of beats_s (least squares); null with "
                    "fewer than 4 onsets")
    tempo_confidence: float | None = Field(
        description="0..1: autocorrelation of the onset envelope one beat period later: a click track or a "
                    "steady drum loop reads about 0.8, onsets at random times under 0.3")
    beats_s: list[float] = Field(
        description="beat times in seconds from the window start (librosa's beat tracker on all channels' "
                    "onsets); empty when none")
    stereo_correlation: float | None = Field(
        description="Pearson correlation -1..1 of the first two channels: 1 mono-compatible, 0 unrelated, "
                    "-1 out of phase")
    duration_s: float = Field(description="window length in seconds")
    sample_rate_hz: int = Field(description="sample rate of the samples analysed, in Hz")
    unavailable: dict[str, str] = Field(description=UNAVAILABLE_DESCRIPTION)


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
