"""The figures `stream_analyze` gives for a window of audio, as typed results.

Kept apart from the analysis itself (audio_analysis.py), which imports
librosa, numba and scipy: the result models are part of hootenanny's tool
list at start, and its start is on the boot path. A figure that cannot be
had is None, never NaN or infinity, and `unavailable` says why under the
figure's name.
"""

from __future__ import annotations

from pydantic import Field

from appliance.services.results import ResultModel

CLIP_THRESHOLD = 0.999
"""A sample with |x| at or above this (-0.0087 dBFS) counts as clipped: full scale less s16's last step and float noise."""

SILENCE_DBFS = -60.0
"""A 100 ms block whose RMS is below -60 dBFS counts as silent."""

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
