"""Names of pitches as musicians write them: scientific pitch notation with sharps, middle C (MIDI 60) as C4.

Shared by analysis (note names, key) and pictures (a piano roll's axis). Two
lines rather than librosa's `midi_to_note`: importing librosa (and numba
under it) costs a second, which neither a picture nor hootenanny's start
should pay.
"""

from __future__ import annotations

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    """60 is 'C4', 61 'C#4', 21 'A0', 0 'C-1'."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"
