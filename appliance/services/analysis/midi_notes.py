"""What was played on a MIDI stream in a window: its notes, their range and density, the tempo of its MIDI clock.

The notes are paired by `slicing.note_pairing` (the same notes a slice's
notes output and piano roll show); this module adds the figures around them.
"""

from __future__ import annotations

from collections.abc import Iterable

import mido
import numpy as np
from pydantic import Field

from appliance.pitches import note_name
from appliance.services.results import ResultModel
from appliance.services.slicing.note_pairing import NO_CLOCK, PULSES_PER_BEAT, Note, played_notes


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


def midi_figures(messages: Iterable[tuple[int, mido.Message]], start: int, end: int, sample_rate: int,
                 limit: int = 1000) -> MidiFigures:
    """The notes starting in samples [start, end) of timed messages (sample, message) and the figures around them."""
    played = played_notes(messages, start, end, sample_rate)
    notes, pulses = played.notes, played.pulses
    seconds = (end - start) / sample_rate
    unavailable: dict[str, str] = {}
    tempo = None
    if len(pulses) >= 2:
        tempo = 60.0 * sample_rate / (PULSES_PER_BEAT * float(np.median(np.diff(pulses))))
    else:
        unavailable["clock_tempo_bpm"] = unavailable["start_beat"] = NO_CLOCK
    if not notes:
        unavailable["lowest_pitch"] = unavailable["highest_pitch"] = "no notes start in the window"
    pitches = [note.pitch for note in notes]
    low, high = (min(pitches), max(pitches)) if pitches else (None, None)
    return MidiFigures(
        notes=notes[:limit], note_count=len(notes), notes_per_second=len(notes) / seconds if seconds > 0 else 0.0,
        lowest_pitch=low, lowest_name=note_name(low) if low is not None else None,
        highest_pitch=high, highest_name=note_name(high) if high is not None else None,
        clock_tempo_bpm=tempo, unavailable=unavailable)
