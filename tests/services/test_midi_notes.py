"""The notes of a MIDI window, from chunk records as chaosgarden writes them."""

from __future__ import annotations

import json

import mido
import pytest

from appliance.proto.midi_record import MidiRecord
from appliance.pitches import note_name
from appliance.services.analysis.midi_notes import midi_figures
from appliance.services.slicing.midi_export import recorded_messages

RATE = 48_000


def messages(*events: tuple[float, bytes]) -> list[tuple[int, mido.Message]]:
    """The timed messages of chunk records holding `events` (seconds, raw bytes), as a stream window reads them."""
    return list(recorded_messages(MidiRecord(0, round(at * RATE), data) for at, data in events))


def clock(seconds: float, bpm: float, start: float = 0.0) -> list[tuple[float, bytes]]:
    step = 60.0 / bpm / 24
    return [(start + i * step, b"\xf8") for i in range(int(seconds / step))]


def test_note_names_put_middle_c_in_octave_4() -> None:
    assert [note_name(p) for p in (60, 69, 21, 61, 0, 127)] == ["C4", "A4", "A0", "C#4", "C-1", "G9"]


def test_notes_pair_on_and_off_with_beats_from_the_midi_clock() -> None:
    played = sorted(clock(4.0, 120) + [
        (0.5, b"\x90\x3c\x64"), (1.0, b"\x80\x3c\x00"),   # C4 at beat 1, half a second
        (1.5, b"\x91\x45\x50"), (1.75, b"\x91\x45\x00"),  # A4 on channel 1, off as note_on at velocity 0
        (2.0, b"\x90\x40\x70"), (2.5, b"\x43\x70"),        # E4, then G4 in running status
        (3.5, b"\x80\x40\x00"),                            # E4 off; G4 held past the end
    ], key=lambda e: e[0])
    figures = midi_figures(messages(*played), 0, 3 * RATE, RATE)
    json.dumps(figures.model_dump(mode="json"), allow_nan=False)
    got = [(n.name, n.start_s, n.start_beat, n.duration_s, n.velocity, n.channel, n.held_past_end)
           for n in figures.notes]
    assert got == [("C4", 0.5, pytest.approx(1.0), 0.5, 100, 0, False),
                   ("A4", 1.5, pytest.approx(3.0), 0.25, 80, 1, False),
                   ("E4", 2.0, pytest.approx(4.0), 1.0, 112, 0, True),
                   ("G4", 2.5, pytest.approx(5.0), 0.5, 112, 0, True)]
    assert figures.clock_tempo_bpm == pytest.approx(120, abs=0.1)
    assert (figures.lowest_name, figures.highest_name, figures.note_count) == ("C4", "A4", 4)
    assert figures.notes_per_second == pytest.approx(4 / 3)


def test_without_a_clock_beats_are_null_and_say_why() -> None:
    figures = midi_figures(messages((0.1, b"\x90\x3c\x64"), (0.2, b"\x80\x3c\x00")), 0, RATE, RATE)
    assert figures.notes[0].start_beat is None and figures.clock_tempo_bpm is None
    assert "no MIDI clock" in figures.unavailable["start_beat"]


def test_an_empty_window_has_no_range_and_no_nan() -> None:
    figures = midi_figures([], 0, RATE, RATE)
    assert figures.note_count == 0 and figures.lowest_pitch is None and "no notes" in figures.unavailable["lowest_pitch"]
    json.dumps(figures.model_dump(mode="json"), allow_nan=False)


def test_notes_before_the_window_are_left_out_and_the_list_is_bounded() -> None:
    played = [(i * 0.01, bytes((0x90, 60 + i % 12, 100))) for i in range(200)]
    figures = midi_figures(messages(*played), RATE // 2, RATE * 2, RATE, limit=10)
    assert figures.note_count == 150 and len(figures.notes) == 10
    assert figures.notes[0].start_s == 0.0
