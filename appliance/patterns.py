"""Built-in MIDI patterns for the `pattern` sample space: euclidean rhythms over a scale, as a Standard MIDI File.

Pure functions with no process imports, so the control plane (which runs the
`pattern` job and plays it to the hardware) and anything else can use them.
A pattern is described by `PatternSpec`, usually built from the `inference`
arguments of `sample("pattern", prompt, inference={...})`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, fields
from typing import Any


SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
_NOTE = re.compile(r"^(?P<letter>[A-Ga-g])(?P<accidental>[#b]?)(?P<octave>-?\d)$")
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
TICKS_PER_BEAT = 480
MIME = "audio/midi"


class PatternError(ValueError):
    """A pattern parameter out of range; the message names it and what is allowed."""


def euclidean(pulses: int, steps: int, rotation: int = 0) -> list[bool]:
    """`pulses` onsets spread as evenly as possible over `steps` (Bjorklund's result), rotated right."""
    if not 1 <= steps <= 64:
        raise PatternError(f"steps must be from 1 to 64; got {steps}")
    if not 0 <= pulses <= steps:
        raise PatternError(f"pulses must be from 0 to steps ({steps}); got {pulses}")
    # Bjorklund: pair onset groups with rest groups until at most one group is left over.
    groups, rests = [[True] for _ in range(pulses)], [[False] for _ in range(steps - pulses)]
    while len(rests) > 1 and groups:
        paired = min(len(groups), len(rests))
        leftover = groups[paired:] if len(groups) > paired else rests[paired:]
        groups, rests = [groups[i] + rests[i] for i in range(paired)], leftover
    pattern = [hit for group in groups + rests for hit in group]
    shift = rotation % steps
    return pattern[-shift:] + pattern[:-shift] if shift else pattern


def note_number(note: str | int) -> int:
    """MIDI note number of `note` ("C4" is 60, "F#2", "Bb3") or a number 0-127."""
    if isinstance(note, int):
        number = note
    else:
        match = _NOTE.match(note.strip())
        if match is None:
            raise PatternError(f"root must be a note like C3, F#2 or Bb4, or a MIDI number; got {note!r}")
        offset = {"#": 1, "b": -1, "": 0}[match["accidental"]]
        number = (int(match["octave"]) + 1) * 12 + _LETTERS[match["letter"].lower()] + offset
    if not 0 <= number <= 127:
        raise PatternError(f"root must be within MIDI notes 0-127; got {note!r}")
    return number


def scale_notes(root: str | int, scale: str, octaves: int = 1) -> list[int]:
    """The notes of `scale` from `root` upwards over `octaves`, within MIDI range."""
    if scale not in SCALES:
        raise PatternError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    base = note_number(root)
    notes = [base + 12 * octave + step for octave in range(octaves) for step in SCALES[scale]]
    return [n for n in notes if n <= 127]


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """One pattern: where the onsets fall, which notes they play, and how long it runs."""

    pulses: int = 4
    steps: int = 16
    rotation: int = 0
    root: str | int = "C3"
    scale: str = "minor"
    octaves: int = 1
    bars: int = 1
    steps_per_beat: int = 4
    velocity: int = 100
    gate: float = 0.5
    channel: int = 0
    tempo_bpm: float = 120.0

    @classmethod
    def from_inference(cls, inference: dict[str, Any]) -> PatternSpec:
        """Build from `sample()`'s inference arguments; unknown or bad ones raise PatternError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(inference) - known)
        if unknown:
            raise PatternError(f"unknown pattern parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        spec = cls(**inference)
        spec.validate()
        return spec

    def validate(self) -> None:
        euclidean(self.pulses, self.steps, self.rotation)
        scale_notes(self.root, self.scale, self.octaves)
        checks = {"octaves": (self.octaves, 1, 4), "bars": (self.bars, 1, 64),
                  "steps_per_beat": (self.steps_per_beat, 1, 8), "velocity": (self.velocity, 1, 127),
                  "gate": (self.gate, 0.05, 1.0), "channel": (self.channel, 0, 15),
                  "tempo_bpm": (self.tempo_bpm, 20, 400)}
        for name, (value, low, high) in checks.items():
            if not isinstance(value, int | float) or not low <= value <= high:
                raise PatternError(f"{name} must be from {low} to {high}; got {value!r}")


def events(spec: PatternSpec) -> list[tuple[int, int, int]]:
    """(start tick, note, length in ticks) of every onset; notes walk up the scale, one per onset."""
    step_ticks = TICKS_PER_BEAT // spec.steps_per_beat
    length = max(1, int(step_ticks * spec.gate))
    notes = scale_notes(spec.root, spec.scale, spec.octaves)
    onsets = [i for i, hit in enumerate(euclidean(spec.pulses, spec.steps, spec.rotation)) if hit]
    steps_per_bar = spec.steps_per_beat * 4
    cycles = max(1, (spec.bars * steps_per_bar) // spec.steps)
    played: list[tuple[int, int, int]] = []
    for cycle in range(cycles):
        for step in onsets:
            index = len(played)
            played.append(((cycle * spec.steps + step) * step_ticks, notes[index % len(notes)], length))
    return played


def render(spec: PatternSpec) -> bytes:
    """The pattern as a type-0 Standard MIDI File."""
    # mido is imported here, not with the module: hootenanny imports this module on the box's boot path.
    import mido

    spec.validate()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.tempo_bpm), time=0))
    timeline = []
    for start, note, length in events(spec):
        timeline.append((start, 1, mido.Message("note_on", note=note, velocity=spec.velocity, channel=spec.channel)))
        timeline.append((start + length, 0, mido.Message("note_off", note=note, velocity=0, channel=spec.channel)))
    now = 0
    for tick, _, message in sorted(timeline, key=lambda item: (item[0], item[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT, tracks=[track])
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()
