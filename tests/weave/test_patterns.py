"""The built-in pattern generator (appliance.patterns) behind the `pattern` space."""

import io

import mido
import pytest

from appliance.patterns import PatternError, PatternSpec, euclidean, note_number, render, scale_notes


def onsets(pattern):
    return "".join("x" if hit else "." for hit in pattern)


def test_euclidean_rhythms():
    assert onsets(euclidean(3, 8)) == "x..x..x."
    assert onsets(euclidean(4, 16)) == "x...x...x...x..."
    assert onsets(euclidean(5, 8)) == "x.xx.xx."
    assert onsets(euclidean(3, 8, rotation=1)) == ".x..x..x"
    assert euclidean(0, 4) == [False] * 4


def test_notes_and_scales():
    assert note_number("C4") == 60 and note_number("F#2") == 42 and note_number("Bb3") == 58
    assert scale_notes("A3", "minor_pentatonic") == [57, 60, 62, 64, 67]
    with pytest.raises(PatternError, match="scale must be one of major"):
        scale_notes("C3", "klingon")


def test_bad_parameters_name_the_field():
    with pytest.raises(PatternError, match="pulses must be from 0 to steps"):
        PatternSpec.from_inference({"pulses": 9, "steps": 8})
    with pytest.raises(PatternError, match="unknown pattern parameter 'swing'"):
        PatternSpec.from_inference({"swing": 0.2})
    with pytest.raises(PatternError, match="velocity must be from 1 to 127"):
        PatternSpec.from_inference({"velocity": 0})


def test_render_is_a_standard_midi_file():
    spec = PatternSpec.from_inference({"pulses": 3, "steps": 8, "root": "C3", "scale": "major", "bars": 2,
                                       "tempo_bpm": 90})
    midi = mido.MidiFile(file=io.BytesIO(render(spec)))
    notes_on = [m for m in midi.tracks[0] if m.type == "note_on"]
    assert len(notes_on) == 3 * 4  # an 8-step cycle is half a bar of 16ths: 4 cycles in 2 bars
    assert [m.note for m in notes_on[:4]] == [48, 50, 52, 53]
    assert round(mido.tempo2bpm(midi.tracks[0][0].tempo)) == 90
    assert midi.length == pytest.approx(2 * 4 * 60 / 90, rel=0.1)
