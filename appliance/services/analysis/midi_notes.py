"""What was played on a MIDI stream in a window: its notes, their range and density, the tempo of its MIDI clock.

The chunk records are parsed with mido (running status put back by the SMF
writer's `RunningStatus`); a note is a note_on paired with the next
note_off (or note_on at velocity 0) of the same channel and pitch. Beats are
counted from the MIDI clock in the window (24 pulses per quarter note), the
only beat the recording itself knows: without a clock, `start_beat` is null
and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mido
import numpy as np
from pydantic import Field

from appliance.pitches import note_name
from appliance.proto.midi_record import MidiRecord
from appliance.services.results import ResultModel
from appliance.services.slicing.midi_export import RunningStatus

PULSES_PER_BEAT = 24  # MIDI clock
NO_CLOCK = "no MIDI clock (0xF8) in the window: beats cannot be counted"


class Note(ResultModel):
    pitch: int = Field(description="MIDI note number, 0-127")
    name: str = Field(description="e.g. C4 (middle C is 60)")
    start_s: float = Field(description="seconds from the window start")
    start_beat: float | None = Field(description="beats from the window's first MIDI clock pulse; null without "
                                                 "MIDI clock")
    duration_s: float = Field(description="to the note off, or to the window end when held past it")
    held_past_end: bool = Field(description="no note off before the window ends")
    velocity: int
    channel: int = Field(description="MIDI channel, 0-15")


class MidiFigures(ResultModel):
    notes: list[Note] = Field(description="notes that start in the window, in order (at most `limit`)")
    note_count: int = Field(description="every note starting in the window, even past `limit`")
    notes_per_second: float
    lowest_pitch: int | None
    lowest_name: str | None
    highest_pitch: int | None
    highest_name: str | None
    clock_tempo_bpm: float | None = Field(description="from the MIDI clock's median pulse interval")
    unavailable: dict[str, str] = Field(description="why a null figure is null, by field name")


def midi_figures(records: Iterable[MidiRecord], start: int, end: int, sample_rate: int,
                 limit: int = 1000) -> MidiFigures:
    """The notes starting in samples [start, end) and the figures around them."""
    notes, pulses = _played(records, start, end, sample_rate)
    beat_of = _beat_counter(pulses)
    seconds = (end - start) / sample_rate
    unavailable: dict[str, str] = {}
    tempo = None
    if len(pulses) >= 2:
        tempo = 60.0 * sample_rate / (PULSES_PER_BEAT * float(np.median(np.diff(pulses))))
    else:
        unavailable["clock_tempo_bpm"] = NO_CLOCK
    if beat_of is None:
        unavailable["start_beat"] = NO_CLOCK
    if not notes:
        unavailable["lowest_pitch"] = unavailable["highest_pitch"] = "no notes start in the window"
    listed = [note.model_copy(update={"start_beat": beat_of(on)}) if beat_of is not None else note
              for on, note in notes[:limit]]
    pitches = [note.pitch for _, note in notes]
    low, high = (min(pitches), max(pitches)) if pitches else (None, None)
    return MidiFigures(
        notes=listed, note_count=len(notes), notes_per_second=len(notes) / seconds if seconds > 0 else 0.0,
        lowest_pitch=low, lowest_name=note_name(low) if low is not None else None,
        highest_pitch=high, highest_name=note_name(high) if high is not None else None,
        clock_tempo_bpm=tempo, unavailable=unavailable)


def _played(records: Iterable[MidiRecord], start: int, end: int, sample_rate: int
            ) -> tuple[list[tuple[int, Note]], list[int]]:
    """Notes starting in the window with their start sample, in order, and the samples of its clock pulses."""
    parser, running = mido.Parser(), RunningStatus()
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (on sample, velocity)
    notes: list[tuple[int, Note]] = []
    pulses: list[int] = []

    def note(key: tuple[int, int], off: int, held: bool) -> None:
        on, velocity = sounding.pop(key)
        notes.append((on, Note(pitch=key[1], name=note_name(key[1]), start_s=(on - start) / sample_rate,
                               start_beat=None, duration_s=(off - on) / sample_rate, held_past_end=held,
                               velocity=velocity, channel=key[0])))

    for record in records:
        parser.feed(running.expand(record.data))
        at = record.sample
        for message in parser:
            if at >= end:
                break
            if message.type == "clock":
                if at >= start:
                    pulses.append(at)
            elif message.type in ("note_on", "note_off"):
                key = (message.channel, message.note)
                if key in sounding:
                    note(key, at, held=False)
                if message.type == "note_on" and message.velocity > 0 and at >= start:
                    sounding[key] = (at, message.velocity)
    for key in list(sounding):
        note(key, end, held=True)
    notes.sort(key=lambda played: (played[0], played[1].pitch))
    return notes, pulses


def _beat_counter(pulses: list[int]) -> Callable[[int], float] | None:
    """Beats since the first pulse at a sample: between pulses by interpolation, outside them at the median pace."""
    if len(pulses) < 2:
        return None
    at = np.asarray(pulses, dtype=np.float64)
    counted = np.arange(len(pulses)) / PULSES_PER_BEAT
    per_beat = float(np.median(np.diff(at))) * PULSES_PER_BEAT

    def beat(sample: int) -> float:
        if sample < at[0]:
            return (sample - at[0]) / per_beat
        if sample > at[-1]:
            return float(counted[-1]) + (sample - at[-1]) / per_beat
        return float(np.interp(sample, at, counted))

    return beat
