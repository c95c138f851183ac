"""The audio figures of `stream_analyze`, checked on signals whose figures are known and against pyloudnorm.

Each signal is made here (sines, clicks, clipped and silent windows), analysed once per module,
and its figures compared with what the signal is by construction or with the reference meter.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyloudnorm
import pytest

from appliance.services.analysis.audio_analysis import analyze_audio
from appliance.services.analysis.audio_figures import AudioFigures, ChannelFigures

RATE = 48_000


def sine(freq_hz: float, seconds: float, peak: float, rate: int = RATE, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (peak * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32)


def stereo(x: np.ndarray) -> np.ndarray:
    return np.stack([x, x], axis=1)


def assert_json_clean(model: AudioFigures) -> None:
    """No NaN or infinity anywhere: strict JSON accepts the result."""
    json.dumps(model.model_dump(mode="json"), allow_nan=False)


def assert_reasons_cover_nulls(model: ChannelFigures | AudioFigures) -> None:
    """Every null figure is explained in `unavailable`, and only null ones are."""
    nulls = {name for name, value in model if value is None}
    assert nulls == set(model.unavailable), (nulls, model.unavailable)


# --- a -20 dBFS 440 Hz sine, 10 s stereo ---------------------------------------------------------

@pytest.fixture(scope="module")
def a440() -> tuple[np.ndarray, AudioFigures]:
    x = sine(440.0, 10.0, 10 ** (-20 / 20))
    return x, analyze_audio(stereo(x), RATE, [0, 1])


def test_sine_levels(a440: tuple[np.ndarray, AudioFigures]) -> None:
    _, figures = a440
    for channel in figures.channels:
        assert channel.peak_dbfs == pytest.approx(-20.0, abs=0.05)
        assert channel.rms_dbfs == pytest.approx(-20.0 - 10 * math.log10(2), abs=0.05)  # -23.01
        assert channel.crest_factor_db == pytest.approx(3.01, abs=0.05)
        assert channel.true_peak_dbtp == pytest.approx(-20.0, abs=0.1)
        assert channel.clipped_samples == 0
        assert channel.silent_fraction == 0.0
    assert figures.duration_s == pytest.approx(10.0)
    assert figures.sample_rate_hz == RATE


def test_sine_loudness_matches_pyloudnorm(a440: tuple[np.ndarray, AudioFigures]) -> None:
    x, figures = a440
    reference = pyloudnorm.Meter(RATE).integrated_loudness(x.astype(np.float64))
    for channel in figures.channels:
        assert channel.loudness_lufs == pytest.approx(reference, abs=0.1)
        # A steady tone: its loudest 3 s is as loud as the whole.
        assert channel.loudness_short_term_max_lufs == pytest.approx(reference, abs=0.2)


def test_sine_pitch_and_spectrum(a440: tuple[np.ndarray, AudioFigures]) -> None:
    _, figures = a440
    for channel in figures.channels:
        assert channel.pitch_hz == pytest.approx(440.0, abs=2.0)
        assert channel.pitch_confidence is not None and channel.pitch_confidence > 0.9
        assert channel.pitch_note == "A4"
        assert channel.spectral_centroid_hz == pytest.approx(440.0, rel=0.05)
        assert channel.spectral_flatness is not None and channel.spectral_flatness < 0.01
        assert channel.chroma is not None and int(np.argmax(channel.chroma)) == 9  # A
        assert channel.unavailable == {}


def test_sine_stereo_and_labels(a440: tuple[np.ndarray, AudioFigures]) -> None:
    _, figures = a440
    assert figures.stereo_correlation == pytest.approx(1.0, abs=1e-6)
    assert [c.channel for c in figures.channels] == [0, 1]
    assert_json_clean(figures)


def test_channels_are_labelled_by_the_streams_indexes() -> None:
    x = sine(220.0, 1.0, 0.5)
    figures = analyze_audio(np.stack([x, -x], axis=1), RATE, [3, 7])
    assert [c.channel for c in figures.channels] == [3, 7]
    assert figures.stereo_correlation == pytest.approx(-1.0, abs=1e-6)


# --- true peak ----------------------------------------------------------------------------------

def test_inter_sample_peak_is_caught() -> None:
    """A full-scale sine at fs/4, 45° off the sample grid: samples reach only 0.707."""
    x = sine(RATE / 4, 2.0, 1.0, phase=np.pi / 4)
    assert float(np.max(np.abs(x))) == pytest.approx(math.sqrt(0.5), abs=1e-6)
    channel = analyze_audio(x[:, None], RATE, [0]).channels[0]
    assert channel.peak_dbfs == pytest.approx(-3.01, abs=0.05)
    assert channel.true_peak_dbtp == pytest.approx(0.0, abs=0.1)


def test_true_peak_in_chunks_is_the_whole_computation() -> None:
    """Oversampling chunk by chunk (with filter context) finds exactly the peak of oversampling at once."""
    from scipy import signal

    from appliance.services.analysis.loudness import TRUE_PEAK_EDGE, _true_peak

    x = np.random.default_rng(2).uniform(-0.5, 0.5, 50_000)
    x[31_337] = 0.9  # a lone spike rings between samples
    whole = signal.resample_poly(x, 4, 1)[4 * TRUE_PEAK_EDGE: -4 * TRUE_PEAK_EDGE]
    assert _true_peak(x, RATE, chunk=4096) == pytest.approx(float(np.max(np.abs(whole))), abs=1e-12)


# --- rhythm -------------------------------------------------------------------------------------

CLICK_PERIOD_S = 0.5  # 120 bpm
CLICK_FIRST_S = 0.25


@pytest.fixture(scope="module")
def clicks() -> tuple[np.ndarray, AudioFigures]:
    """5 ms white-noise bursts at -6 dBFS every 0.5 s for 10 s, in silence."""
    rng = np.random.default_rng(7)
    x = np.zeros(10 * RATE, dtype=np.float32)
    times = np.arange(CLICK_FIRST_S, 10.0 - 0.1, CLICK_PERIOD_S)
    burst = int(0.005 * RATE)
    for t in times:
        start = int(round(t * RATE))
        x[start: start + burst] = 0.5 * rng.uniform(-1, 1, burst)
    return times, analyze_audio(stereo(x), RATE, [0, 1])


def test_click_tempo(clicks: tuple[np.ndarray, AudioFigures]) -> None:
    _, figures = clicks
    assert figures.tempo_bpm == pytest.approx(120.0, abs=2.0)
    assert figures.tempo_confidence is not None and figures.tempo_confidence > 0.5
    assert len(figures.beats_s) >= 15
    assert np.allclose(np.diff(figures.beats_s), CLICK_PERIOD_S, atol=0.03)


def test_click_onsets(clicks: tuple[np.ndarray, AudioFigures]) -> None:
    times, figures = clicks
    for channel in figures.channels:
        onsets = np.asarray(channel.onsets_s)
        assert len(onsets) == len(times), onsets
        assert np.max(np.abs(onsets - times)) <= 0.010, onsets - times


def test_steady_noise_has_no_pitch_onsets_or_tempo() -> None:
    """White noise: no pitch, and no onsets in its flutter (librosa's normalised default finds dozens)."""
    rng = np.random.default_rng(3)
    x = (0.3 * rng.uniform(-1, 1, 4 * RATE)).astype(np.float32)
    figures = analyze_audio(x[:, None], RATE, [0])
    channel = figures.channels[0]
    assert channel.pitch_hz is None and "no dominant pitch" in channel.unavailable["pitch_hz"]
    assert channel.pitch_confidence is not None and channel.pitch_confidence < 0.3
    assert channel.spectral_flatness is not None and channel.spectral_flatness > 0.3
    assert channel.spectral_centroid_hz == pytest.approx(RATE / 4, rel=0.1)  # white: the middle of the band
    assert channel.onsets_s == []
    assert channel.key is None and "flat" in channel.unavailable["key"]
    assert figures.tempo_bpm is None and figures.beats_s == []
    assert_reasons_cover_nulls(figures)
    assert_reasons_cover_nulls(channel)
    assert_json_clean(figures)


# --- clipping, silence, short and mono windows ---------------------------------------------------

def test_clipped_samples_are_counted_exactly() -> None:
    x = sine(100.0, 2.0, 0.5)
    x[1000:1010] = 1.0  # a run of 10 at full scale
    x[5000:5003] = -1.0  # 3 at negative full scale
    x[9000] = 0.9995  # at the threshold's side of full scale: counts
    x[9100] = 0.998  # below 0.999: does not
    channel = analyze_audio(x[:, None], RATE, [0]).channels[0]
    assert channel.clipped_samples == 14
    assert channel.peak_dbfs == pytest.approx(0.0, abs=1e-6)


def test_hard_clipped_sine() -> None:
    x = np.clip(sine(50.0, 2.0, 2.0), -1.0, 1.0)
    channel = analyze_audio(x[:, None], RATE, [0]).channels[0]
    assert channel.clipped_samples == int(np.count_nonzero(np.abs(x) >= 0.999))
    assert channel.clipped_samples > 0.5 * x.shape[0]  # a 2x overdriven sine is clipped most of the time


def test_digital_silence_is_null_with_reasons() -> None:
    figures = analyze_audio(np.zeros((5 * RATE, 2), dtype=np.float32), RATE, [0, 1])
    assert_json_clean(figures)
    for channel in figures.channels:
        for name in ("peak_dbfs", "true_peak_dbtp", "rms_dbfs", "crest_factor_db", "loudness_lufs",
                     "loudness_short_term_max_lufs", "pitch_hz", "key", "chroma", "spectral_centroid_hz"):
            assert getattr(channel, name) is None
            assert channel.unavailable[name]
        assert "digital silence" in channel.unavailable["peak_dbfs"]
        assert "-70 LUFS" in channel.unavailable["loudness_lufs"]
        assert channel.silent_fraction == 1.0
        assert channel.clipped_samples == 0
        assert channel.onsets_s == []
        assert_reasons_cover_nulls(channel)
    assert figures.tempo_bpm is None and figures.beats_s == []
    assert figures.stereo_correlation is None
    assert_reasons_cover_nulls(figures)


def test_quiet_hiss_has_no_onsets_or_pitch() -> None:
    """Hiss at -80 dBFS is below every analysis threshold but still has a level."""
    rng = np.random.default_rng(5)
    x = (1e-4 * rng.uniform(-1, 1, 3 * RATE)).astype(np.float32)
    figures = analyze_audio(x[:, None], RATE, [0])
    channel = figures.channels[0]
    assert channel.peak_dbfs is not None and channel.peak_dbfs < -79
    assert channel.onsets_s == [] and figures.beats_s == []
    assert channel.pitch_hz is None and channel.spectral_flatness is None
    assert channel.silent_fraction == 1.0
    assert_reasons_cover_nulls(channel)
    assert_json_clean(figures)


def test_empty_window() -> None:
    figures = analyze_audio(np.zeros((0, 2), dtype=np.float32), RATE, [0, 1])
    assert_json_clean(figures)
    assert figures.duration_s == 0.0
    for channel in figures.channels:
        assert channel.peak_dbfs is None and "empty window" in channel.unavailable["peak_dbfs"]
        assert channel.silent_fraction is None
        assert_reasons_cover_nulls(channel)
    assert_reasons_cover_nulls(figures)


def test_short_window_has_no_short_term_loudness() -> None:
    x = sine(440.0, 2.0, 0.1)
    figures = analyze_audio(x[:, None], RATE, [0])
    channel = figures.channels[0]
    assert channel.loudness_short_term_max_lufs is None
    assert "3 s" in channel.unavailable["loudness_short_term_max_lufs"]
    assert channel.loudness_lufs == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x.astype(np.float64)),
                                                  abs=0.1)
    assert channel.pitch_note == "A4"
    assert_json_clean(figures)


def test_integer_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="float"):
        analyze_audio(np.zeros((100, 1), dtype=np.int16), RATE, [0])


def test_very_short_window_stays_finite() -> None:
    """50 ms: shorter than one loudness block and one STFT frame."""
    x = sine(440.0, 0.05, 0.1)
    figures = analyze_audio(np.stack([x, 0.5 * x], axis=1), RATE, [0, 1])
    assert_json_clean(figures)
    channel = figures.channels[0]
    assert channel.loudness_lufs is None and "400 ms" in channel.unavailable["loudness_lufs"]
    assert channel.peak_dbfs == pytest.approx(-20.0, abs=0.1)
    assert_reasons_cover_nulls(channel)
    assert_reasons_cover_nulls(figures)


def test_mono_has_no_stereo_correlation() -> None:
    figures = analyze_audio(sine(440.0, 1.0, 0.1)[:, None], RATE, [0])
    assert figures.stereo_correlation is None
    assert "two channels" in figures.unavailable["stereo_correlation"]


# --- key and chroma -------------------------------------------------------------------------------

def chord(notes_hz: list[float], seconds: float, peak_each: float) -> np.ndarray:
    return np.sum([sine(f, seconds, peak_each) for f in notes_hz], axis=0).astype(np.float32)


def hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def test_c_major_triad_is_c_major() -> None:
    c3, c4, e4, g4 = hz(48), hz(60), hz(64), hz(67)
    x = chord([c3, c4, e4, g4], 4.0, 0.2)
    channel = analyze_audio(x[:, None], RATE, [0]).channels[0]
    assert channel.key == "C major"
    assert channel.key_confidence is not None and channel.key_confidence > 0.5
    assert channel.chroma is not None and int(np.argmax(channel.chroma)) == 0  # C


def test_a_minor_triad_is_a_minor() -> None:
    a3, a4, c5, e5 = hz(57), hz(69), hz(72), hz(76)
    x = chord([a3, a4, c5, e5], 4.0, 0.2)
    channel = analyze_audio(x[:, None], RATE, [0]).channels[0]
    assert channel.key == "A minor"
    assert channel.chroma is not None and int(np.argmax(channel.chroma)) == 9  # A


def test_c_major_scale_is_c_major() -> None:
    """C D E F G A B C, 0.4 s each, ending on the tonic held."""
    notes = [60, 62, 64, 65, 67, 69, 71, 72]
    x = np.concatenate([sine(hz(m), 0.4, 0.3) for m in notes] + [sine(hz(60), 1.2, 0.3)])
    channel = analyze_audio(x[:, None], RATE, [0]).channels[0]
    assert channel.key == "C major"
    assert channel.chroma is not None and int(np.argmax(channel.chroma)) == 0


# --- the model as an outputSchema -------------------------------------------------------------------

@pytest.mark.parametrize("model", [AudioFigures, ChannelFigures])
def test_every_field_is_described(model: type[AudioFigures] | type[ChannelFigures]) -> None:
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
    schema = model.model_json_schema()
    assert schema["additionalProperties"] is False


def test_centroid_is_librosas_definition() -> None:
    """The centroid is computed as one matrix product; it must equal librosa's own call."""
    import librosa

    from appliance.services.analysis.spectral import _centroids_hz

    magnitude = np.abs(np.random.default_rng(1).standard_normal((513, 40))).astype(np.float32)
    expected = librosa.feature.spectral_centroid(S=magnitude, sr=RATE, n_fft=1024)[0]
    assert np.allclose(_centroids_hz(magnitude, RATE, 1024), expected, rtol=1e-4)


@pytest.mark.parametrize("rate", [44_100, 96_000, 16_000])
def test_other_sample_rates(rate: int) -> None:
    x = sine(440.0, 4.0, 0.1, rate=rate)
    figures = analyze_audio(stereo(x), rate, [0, 1])
    channel = figures.channels[0]
    assert channel.pitch_note == "A4"
    assert channel.peak_dbfs == pytest.approx(-20.0, abs=0.05)
    assert channel.loudness_lufs == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float64)),
                                                  abs=0.1)
    assert channel.spectral_centroid_hz == pytest.approx(440.0, rel=0.05)
    assert figures.sample_rate_hz == rate
    assert_json_clean(figures)
