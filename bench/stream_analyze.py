"""stream_analyze's audio figures over 60 s of stereo 48 kHz, against pyloudnorm and librosa doing the same work.

The peer is what an agent author would write with the same libraries, each
called the plain way: per channel pyloudnorm integrated and short-term
loudness, scipy's 4x resample for true peak, a resample to 22050 Hz, librosa
onsets, YIN, chroma, centroid and flatness; then librosa's beat tracker on a
mono mix. The signal is a tone with clicks twice a second and some noise.
The issue's target: at least as fast as the peer.
"""

from __future__ import annotations

import numpy as np

from bench.report import figure, median_seconds

RATE = 48_000
SECONDS = 60
REPEATS = 5
ANALYSIS_RATE = 22_050


def test_signal() -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(SECONDS * RATE) / RATE
    left = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 110 * t + 0.3) + 0.02 * rng.standard_normal(t.size)
    for k in range(SECONDS * 2):
        at = int(k * 0.5 * RATE)
        left[at:at + 240] += 0.5 * rng.uniform(-1, 1, 240)
    return np.clip(np.stack([left, right], axis=1), -1, 1).astype(np.float32)


def peer(x: np.ndarray) -> None:
    import librosa
    import pyloudnorm
    from scipy import signal

    for c in range(x.shape[1]):
        ch = x[:, c].astype(np.float64)
        pyloudnorm.Meter(RATE).integrated_loudness(ch)
        short_term = pyloudnorm.Meter(RATE, block_size=3.0, overlap=1 - 0.1 / 3)
        short_term.integrated_loudness(ch)
        np.max(np.abs(signal.resample_poly(ch, 4, 1)))
        np.sqrt(np.mean(ch ** 2)), np.count_nonzero(np.abs(ch) >= 0.999)
        y = librosa.resample(x[:, c], orig_sr=RATE, target_sr=ANALYSIS_RATE)
        librosa.onset.onset_detect(y=y, sr=ANALYSIS_RATE, units="time")
        librosa.yin(y, fmin=32.7, fmax=2093.0, sr=ANALYSIS_RATE)
        librosa.feature.chroma_stft(y=y, sr=ANALYSIS_RATE)
        librosa.feature.spectral_centroid(y=y, sr=ANALYSIS_RATE)
        librosa.feature.spectral_flatness(y=y)
    librosa.beat.beat_track(y=librosa.resample(x.mean(axis=1), orig_sr=RATE, target_sr=ANALYSIS_RATE),
                            sr=ANALYSIS_RATE)
    np.corrcoef(x[:, 0], x[:, 1])


def main() -> None:
    from appliance.services.analysis.audio_analysis import analyze_audio

    x = test_signal()
    analyze_audio(x[: RATE * 4], RATE, [0, 1])  # numba compiles librosa's kernels on first use: not measured
    peer(x[: RATE * 4])
    ours = median_seconds(lambda: analyze_audio(x, RATE, [0, 1]), REPEATS)
    theirs = median_seconds(lambda: peer(x), REPEATS)
    figure(f"stream_analyze audio figures, {SECONDS} s stereo 48 kHz", ours, theirs, "pyloudnorm + librosa", "s",
           higher_is_better=False, target=1.0)
