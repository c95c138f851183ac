"""Note pairing, the one way notes are made from MIDI: for slice pictures, stream_analyze and stream_slice's notes."""

from __future__ import annotations

import json

import mido
import pytest

from appliance.proto.midi_record import MidiRecord
from appliance.services.analysis.midi_notes import midi_figures
from appliance.services.slicing.midi_export import read_smf, recorded_messages
from appliance.services.slicing.note_pairing import played_notes
from appliance.services.slicing.slice_picture import smf_notes

RATE = 1000  # a sample a millisecond: times read as they are written


def messages(*events: tuple[int, bytes]) -> list[tuple[int, mido.Message]]:
    return list(recorded_messages(MidiRecord(0, at, data) for at, data in events))


def test_a_re_struck_key_ends_the_sounding_note_and_starts_a_new_one() -> None:
    played = played_notes(messages((100, b"\x90\x3c\x40"), (300, b"\x90\x3c\x70"), (600, b"\x80\x3c\x00")),
                          0, RATE, RATE)
    assert [(n.name, n.start_s, n.duration_s, n.velocity, n.held_past_end) for n in played.notes] == [
        ("C4", 0.1, 0.2, 64, False), ("C4", 0.3, 0.3, 112, False)]


def test_velocity_zero_ends_a_note_and_a_stray_off_is_ignored() -> None:
    played = played_notes(messages((0, b"\x80\x45\x00"), (100, b"\x91\x45\x50"), (250, b"\x91\x45\x00")),
                          0, RATE, RATE)
    assert [(n.name, n.channel, n.start_s, n.duration_s) for n in played.notes] == [("A4", 1, 0.1, 0.15)]


def test_a_note_ends_at_the_window_end_held_unless_its_off_is_right_there() -> None:
    played = played_notes(messages((100, b"\x90\x3c\x64"), (200, b"\x90\x40\x64"), (500, b"\x80\x40\x00"),
                                   (900, b"\x80\x3c\x00")), 0, 500, RATE)
    assert [(n.name, n.duration_s, n.held_past_end) for n in played.notes] == [("C4", 0.4, True),
                                                                                ("E4", 0.3, False)]


def test_notes_before_the_window_are_left_out_and_times_count_from_its_start() -> None:
    played = played_notes(messages((100, b"\x90\x3c\x64"), (300, b"\x80\x3c\x00"), (400, b"\x90\x3e\x64"),
                                   (450, b"\x80\x3e\x00")), 200, 1000, RATE)
    assert [(n.name, n.start_s) for n in played.notes] == [("D4", pytest.approx(0.2))]


def test_beats_count_from_the_first_clock_pulse_in_the_window() -> None:
    clock = [(at, b"\xf8") for at in range(0, 1000, 20)]  # 24 pulses in 480 ms: 125 BPM
    played = played_notes(messages(*sorted(clock + [(480, b"\x90\x3c\x64")])), 0, 1000, RATE)
    assert played.notes[0].start_beat == pytest.approx(1.0) and len(played.pulses) == 50


def test_a_file_a_slice_picture_and_analysis_list_the_same_notes(tmp_path) -> None:
    track = mido.MidiTrack([
        mido.Message("note_on", note=60, velocity=100, time=0),
        mido.Message("note_on", note=60, velocity=90, time=240),  # re-struck after 0.25 s at 120 BPM
        mido.Message("note_off", note=60, time=240),
        mido.MetaMessage("end_of_track", time=480),
    ])
    path = tmp_path / "re-struck.mid"
    mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track]).save(path)
    file_messages, length = read_smf(path)
    analysed = midi_figures(file_messages, 0, length, 48_000).notes
    drawn = smf_notes(path, start_s=0.0)
    assert [(n.start_s, n.duration_s, n.velocity) for n in analysed] == [(0.0, 0.25, 100), (0.25, 0.25, 90)]
    assert [(n.start_s, n.duration_s, n.velocity) for n in drawn] == [(0.0, 0.25, 100), (0.25, 0.25, 90)]
    json.dumps([n.model_dump(mode="json") for n in analysed], allow_nan=False)
