"""Notes out of MIDI messages: each note-on paired with what ends it, timed in seconds and in MIDI-clock beats.

The one place notes are made, for slice pictures, stream_analyze and
stream_slice's notes output, so all three list the same notes.

- A note-off, or a note-on at velocity 0 (the MIDI standard's note-off), ends
  the sounding note of its channel and pitch.
- A note-on of a key that is already sounding ends that note there and starts
  a new one: a re-struck key is a note the player played, with its own
  velocity. Dropping it would lose a note, and holding the first one on would
  merge two strikes into one.
- A note starts in the window when its note-on is in [start, end). A note not
  ended by `end` (a note-off exactly at `end` counts) lasts to `end` and is
  `held_past_end`.

Beats are counted from the MIDI clock in the window (24 pulses per quarter
note), the only beat the recording itself knows: without a clock,
`start_beat` is null. The module imports neither mido nor numpy at load: the
`Note` model is part of a slice's result, on hootenanny's boot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from appliance.pitches import note_name
from appliance.services.results import ResultModel

if TYPE_CHECKING:
    import mido

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


@dataclass(frozen=True)
class PlayedNotes:
    """The notes starting in a window, in order of start (then pitch), and the samples of its clock pulses."""

    notes: list[Note]
    pulses: list[int]


def played_notes(messages: Iterable[tuple[int, mido.Message]], start: int, end: int,
                 sample_rate: int) -> PlayedNotes:
    """The notes starting in samples [start, end) of timed messages (sample, message), in sample order.

    Messages before `start` are read too (they may end nothing in the window,
    but a parser fed from earlier keeps its running status); reading stops
    after `end`.
    """
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (on sample, velocity)
    paired: list[tuple[int, int, int, int, int, bool]] = []  # on, off, pitch, velocity, channel, held
    pulses: list[int] = []

    def end_note(key: tuple[int, int], off: int, held: bool) -> None:
        on, velocity = sounding.pop(key)
        paired.append((on, off, key[1], velocity, key[0], held))

    for at, message in messages:
        if at > end:
            break
        if message.type == "clock":
            if start <= at < end:
                pulses.append(at)
        elif message.type in ("note_on", "note_off"):
            key = (message.channel, message.note)
            if key in sounding:
                end_note(key, at, held=False)
            if message.type == "note_on" and message.velocity > 0 and start <= at < end:
                sounding[key] = (at, message.velocity)
    for key in list(sounding):
        end_note(key, end, held=True)
    paired.sort(key=lambda note: (note[0], note[2]))
    beat_of = beat_counter(pulses)
    notes = [Note(pitch=pitch, name=note_name(pitch), start_s=(on - start) / sample_rate,
                  start_beat=beat_of(on) if beat_of is not None else None, duration_s=(off - on) / sample_rate,
                  held_past_end=held, velocity=velocity, channel=channel)
             for on, off, pitch, velocity, channel, held in paired]
    return PlayedNotes(notes, pulses)


def beat_counter(pulses: list[int]) -> Callable[[int], float] | None:
    """Beats since the first pulse at a sample: between pulses by interpolation, outside them at the median pace."""
    if len(pulses) < 2:
        return None
    import numpy as np  # here: this module is imported on hootenanny's boot path, numpy is not needed there

    at = np.asarray(pulses, dtype=np.float64)
    counted = np.arange(len(pulses)) / PULSES_PER_BEAT
    per_beat = float(np.median(np.diff(at))) * PULSES_PER_BEAT

    def beat(sample: int) -> float:
        if sample < at[0]:
            return float((sample - at[0]) / per_beat)
        if sample > at[-1]:
            return float(counted[-1]) + (sample - at[-1]) / per_beat
        return float(np.interp(sample, at, counted))

    return beat
