"""The pictures an agent reads: exact sizes, bounded work for long windows, and the axes and labels it reads by."""

from __future__ import annotations

import io
import math

import mido
import numpy as np
import pytest
import soundfile as sf
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from appliance.services.pictures import piano_roll, spectrogram, waveform
from appliance.services.pictures.canvas import MIN_HEIGHT, MIN_WIDTH, BeatGrid
from appliance.pitches import note_name
from appliance.services.pictures.piano_roll import Note, piano_roll_png
from appliance.services.pictures.spectrogram import spectrogram_png, spectrum
from appliance.services.pictures.waveform import envelope, waveform_png
from appliance.services.slicing.slice_picture import smf_notes, smf_png, wav_envelope, wav_png

RATE = 48000
# 402 x 203: sizes whose inches (402 / 100) times the dpi fall a hair short of the pixel count in floating point.
SIZES = [(MIN_WIDTH, MIN_HEIGHT), (402, 203), (800, 400), (800, 300), (1023, 517), (1920, 1080)]


def sine(seconds: float, hz: float = 440.0, amplitude: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    mono = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def texts(figure: Figure) -> list[str]:
    """Every piece of text the figure draws: title, labels, tick labels, annotations."""
    figure.canvas.draw()  # tick labels from locators exist only once drawn
    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def labels(count: int) -> list[str]:
    return [f"ch {c}" for c in range(count)]


def waveform_figure(samples: np.ndarray, width: int = 800, height: int = 400, **kwargs) -> Figure:
    options = {"title": "stream://test/main 0.0–1.0 s", "channel_labels": labels(samples.shape[1]),
               "start_s": 0.0, "markers": (), "beats": None} | kwargs
    return waveform._figure(envelope([samples], len(samples), width), RATE, width=width, height=height, **options)


@pytest.mark.parametrize("width, height", SIZES)
def test_every_picture_is_a_png_of_exactly_the_asked_size(width, height):
    audio = sine(1.0)
    notes = [Note(60, 0.1, 0.5, 100, 0), Note(64, 0.4, 0.3, 60, 0)]
    assert png_size(waveform_png(audio, RATE, title="t", channel_labels=labels(2), width=width, height=height)) \
        == (width, height)
    assert png_size(spectrogram_png(audio[:, 0], RATE, title="t", width=width, height=height)) == (width, height)
    assert png_size(piano_roll_png(notes, title="t", duration_s=1.0, width=width, height=height)) == (width, height)


def test_defaults_are_800_by_400():
    assert png_size(waveform_png(sine(0.1), RATE, title="t", channel_labels=labels(2))) == (800, 400)
    assert png_size(spectrogram_png(sine(0.1)[:, 0], RATE, title="t")) == (800, 400)
    assert png_size(piano_roll_png([], title="t", duration_s=1.0)) == (800, 400)


@pytest.mark.parametrize("width, height", [(MIN_WIDTH - 1, 400), (800, MIN_HEIGHT - 1), (10, 10)])
def test_a_picture_below_the_minimum_is_refused_naming_the_minimum(width, height):
    minimum = f"{MIN_WIDTH}x{MIN_HEIGHT}"
    with pytest.raises(ValueError, match=minimum):
        waveform_png(sine(0.1), RATE, title="t", channel_labels=labels(2), width=width, height=height)
    with pytest.raises(ValueError, match=minimum):
        spectrogram_png(sine(0.1)[:, 0], RATE, title="t", width=width, height=height)
    with pytest.raises(ValueError, match=minimum):
        piano_roll_png([], title="t", duration_s=1.0, width=width, height=height)


# The waveform.

def test_ten_minutes_of_eight_channels_reduce_to_one_column_per_pixel():
    second = sine(1.0, channels=8)
    second[100, 3] = -0.9  # a peak the reduction must keep
    frames = 600 * RATE
    reduced = envelope((second for _ in range(600)), frames, columns=800)
    assert reduced.low.shape == reduced.high.shape == (800, 8)
    assert reduced.frames_per_column * 800 >= frames
    assert reduced.low[:, 3].min() == pytest.approx(-0.9)
    assert reduced.high.max() == pytest.approx(0.5, abs=1e-3)
    assert png_size(waveform_png(reduced, RATE, title="10 min", channel_labels=labels(8))) == (800, 400)


def test_a_waveform_plots_a_few_points_per_column_not_every_sample():
    figure = waveform_figure(sine(10.0, channels=8), width=800)
    lanes = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(lanes) == 8
    # Low and high per column, each a step (two points): about 4 points a column, against 600 samples a column.
    assert all(len(lane.get_paths()[0].vertices) <= 4 * 801 + 8 for lane in lanes)


@pytest.mark.parametrize("block", [1, 7, 1000, 48000])
def test_the_envelope_is_the_same_whatever_the_blocks(block):
    samples = np.random.default_rng(1).uniform(-1, 1, (48000, 3)).astype(np.float32)
    whole = envelope([samples], len(samples), 640)
    pieces = envelope((samples[i:i + block] for i in range(0, len(samples), block)), len(samples), 640)
    np.testing.assert_array_equal(whole.low, pieces.low)
    np.testing.assert_array_equal(whole.high, pieces.high)
    per = whole.frames_per_column
    assert whole.low[0, 1] == samples[:per, 1].min()
    assert whole.high[-1, 2] == samples[(len(whole.low) - 1) * per:, 2].max()


def test_a_waveform_names_its_channels_levels_time_and_title():
    found = texts(waveform_figure(sine(1.0, amplitude=0.5)))
    assert "stream://test/main 0.0–1.0 s" in found
    assert any(t.startswith("ch 0") for t in found) and any(t.startswith("ch 1") for t in found)
    assert "level (dBFS)" in found and {"0", "-6", "-12"} <= set(found)
    assert "time (s)" in found
    assert any("peak -6.0 dBFS" in t for t in found)


def test_a_waveform_of_silence_says_silent():
    found = texts(waveform_figure(np.zeros((RATE, 1), np.float32)))
    assert any(t.endswith("silent") for t in found)


def test_a_single_sample_draws():
    one = np.array([[0.25, -1.0]], np.float32)
    assert png_size(waveform_png(one, RATE, title="one", channel_labels=labels(2))) == (800, 400)
    assert png_size(spectrogram_png(one[:, 0], RATE, title="one")) == (800, 400)


def test_markers_are_labelled_lines_and_those_outside_the_window_are_left_out():
    figure = waveform_figure(sine(2.0), start_s=10.0, markers=[(10.5, "kick"), (11.0, "snare"), (30.0, "later")])
    found = texts(figure)
    assert "kick" in found and "snare" in found and "later" not in found
    lines = [line.get_xdata()[0] for line in figure.axes[0].get_lines()]
    assert lines == [10.5, 11.0]


def test_time_runs_from_start_s_as_plain_seconds():
    figure = waveform_figure(sine(2.0), start_s=3600.0)
    assert figure.axes[0].get_xlim() == (3600.0, 3602.0)
    found = texts(figure)
    assert "3601" in found or "3601.0" in found
    assert not any("e+" in t or t.startswith("+") for t in found)


def test_a_beat_grid_labels_bars_and_beats_along_the_top():
    # 120 BPM: a beat every 0.5 s; the window starts on beat 3.5 (bar 1, halfway through beat 4).
    figure = waveform_figure(sine(2.0), beats=BeatGrid(tempo_bpm=120, beat_at_start=3.5))
    found = texts(figure)
    assert {"2:1", "2:2", "2:3", "2:4"} <= set(found) and "1:4" not in found
    assert "bar:beat (4/4 at 120 BPM)" in found


def test_a_long_window_labels_bars_not_every_beat():
    figure = waveform_figure(sine(0.01), beats=BeatGrid(tempo_bpm=120, beat_at_start=0))
    assert "1:1" in texts(figure)
    long = waveform._figure(envelope([np.zeros((10, 1), np.float32)], 10, 800), 1, title="t",
                            channel_labels=["ch 0"], start_s=0, markers=(), beats=BeatGrid(120, 0), width=800,
                            height=400)  # ten seconds at one sample a second: 20 beats
    beats = [t for t in texts(long) if ":" in t and t[0].isdigit()]
    assert beats and all(label.endswith(":1") for label in beats)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="channels"):
        waveform_png(np.zeros(100, np.float32), RATE, title="t", channel_labels=["ch 0"])
    with pytest.raises(ValueError, match="channel labels"):
        waveform_png(sine(0.1), RATE, title="t", channel_labels=["ch 0"])
    with pytest.raises(ValueError, match="mono"):
        spectrogram_png(sine(0.1), RATE, title="t")
    with pytest.raises(ValueError, match="tempo"):
        BeatGrid(tempo_bpm=0, beat_at_start=0)


def test_many_channels_still_draw():
    figure = waveform_figure(sine(0.5, channels=64), width=800, height=400)
    assert len(figure.axes[0].get_yticklabels()) < 64  # labels thinned, not stacked on each other
    assert png_size(waveform_png(sine(0.5, channels=64), RATE, title="t", channel_labels=labels(64))) == (800, 400)


# The spectrogram.

def test_a_full_scale_sine_reads_0_dbfs_at_its_frequency():
    levels = spectrum(sine(1.0, hz=1000.0, amplitude=1.0)[:, 0], RATE, columns=400, rows=300)
    row = int(np.searchsorted(levels.edges_hz, 1000.0)) - 1
    assert levels.dbfs[row].max() == pytest.approx(0.0, abs=1.6)  # a Hann window's scalloping is at most 1.4 dB
    assert levels.dbfs.max() == pytest.approx(0.0, abs=1.6)
    # Away from where the sine switches on and off (which splatters, as a click does), low bands stay quiet.
    assert levels.dbfs[: np.searchsorted(levels.edges_hz, 200.0), 40:-40].max() < -60


def test_a_long_spectrogram_has_at_most_one_column_per_pixel():
    minute = np.random.default_rng(2).uniform(-0.1, 0.1, 60 * RATE).astype(np.float32)
    levels = spectrum(minute, RATE, columns=800, rows=400)
    assert levels.dbfs.shape[0] == 400 and levels.dbfs.shape[1] <= 800
    assert levels.dbfs.shape[1] * levels.seconds_per_column >= 60.0


def test_silence_is_the_floor_of_the_colour_scale():
    levels = spectrum(np.zeros(RATE, np.float32), RATE, columns=800, rows=400)
    assert (levels.dbfs == spectrogram.FLOOR_DBFS).all()


def test_a_spectrogram_names_frequency_level_time_and_title():
    audio = sine(1.0, hz=1000.0)[:, 0]
    figure = spectrogram._figure(spectrum(audio, RATE, 800, 400), 1.0, title="spectrum of ch 0", start_s=12.0,
                                 width=800, height=400)
    found = texts(figure)
    assert {"spectrum of ch 0", "frequency (Hz, log scale)", "level (dBFS)", "time (s)"} <= set(found)
    assert {"20", "100", "1k", "10k"} <= set(found)
    assert figure.axes[0].get_xlim() == (12.0, 13.0)


# The piano roll.

@pytest.mark.parametrize("pitch, name", [(60, "C4"), (61, "C#4"), (21, "A0"), (0, "C-1"), (127, "G9"), (69, "A4")])
def test_note_names(pitch, name):
    assert note_name(pitch) == name


def test_a_piano_roll_names_pitches_velocity_time_and_title():
    notes = [Note(60, 0.0, 0.5, 100, 0), Note(67, 0.5, 0.5, 30, 0), Note(72, 1.0, 0.0, 127, 0)]
    figure = piano_roll._figure(notes, title="stream://test/notes 0.0–2.0 s", duration_s=2.0, start_s=0.0,
                                beats=None, width=800, height=400)
    found = texts(figure)
    assert {"C4", "G4", "C5", "velocity", "time (s)", "pitch", "stream://test/notes 0.0–2.0 s"} <= set(found)
    (bars,) = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    assert list(bars.get_array()) == [100, 30, 127]


def test_an_empty_piano_roll_still_has_its_axes():
    figure = piano_roll._figure([], title="nothing played", duration_s=4.0, start_s=0.0,
                                beats=BeatGrid(120, 0), width=800, height=400)
    found = texts(figure)
    assert {"no notes", "C4", "time (s)", "1:1"} <= set(found)


def test_notes_on_several_channels_get_a_legend():
    notes = [Note(60, 0.0, 0.5, 100, 0), Note(48, 0.0, 1.0, 90, 9)]
    found = texts(piano_roll._figure(notes, title="t", duration_s=1.0, start_s=0.0, beats=None, width=800,
                                     height=400))
    assert {"ch 0", "ch 9", "MIDI channel"} <= set(found)


def test_a_piano_roll_needs_a_window():
    with pytest.raises(ValueError, match="longer than 0 s"):
        piano_roll_png([], title="t", duration_s=0.0)


# A slice's files, read into what the pictures draw.

def test_a_wav_is_reduced_while_read(tmp_path):
    samples = sine(3.0, channels=3)
    path = tmp_path / "slice.wav"
    sf.write(path, samples, RATE, subtype="FLOAT")
    reduced, rate = wav_envelope(path, 800)
    expected = envelope([samples], len(samples), 800)
    assert rate == RATE
    np.testing.assert_array_equal(reduced.low, expected.low)
    np.testing.assert_array_equal(reduced.high, expected.high)
    assert png_size(wav_png(path, title="t", start_s=1.0)) == (800, 300)


def test_notes_are_read_from_a_standard_midi_file(tmp_path):
    track = mido.MidiTrack([
        mido.Message("note_on", note=60, velocity=100, time=0),
        mido.Message("note_on", note=64, velocity=50, channel=2, time=480),  # 0.5 s at 120 BPM and 480 ticks
        mido.Message("note_on", note=60, velocity=0, time=480),  # velocity 0 ends a note
        mido.Message("note_off", note=99, time=0),  # never started: ignored
        mido.MetaMessage("end_of_track", time=960),  # note 64 is still sounding at the end
    ])
    path = tmp_path / "slice.mid"
    mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track]).save(path)
    notes = smf_notes(path, start_s=10.0)
    assert [(n.pitch, n.channel, n.velocity) for n in notes] == [(60, 0, 100), (64, 2, 50)]
    assert [n.start_s for n in notes] == [10.0, 10.5]
    assert [n.duration_s for n in notes] == pytest.approx([1.0, 1.5])
    assert png_size(smf_png(path, title="t", start_s=10.0, duration_s=2.0)) == (800, 300)
    assert math.isclose(notes[1].start_s + notes[1].duration_s, 12.0)
