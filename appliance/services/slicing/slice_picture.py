"""A cut file as a picture: a WAV as its waveform, a Standard MIDI File as its piano roll.

This is where files meet `appliance.services.pictures`, which draws only from
arrays and notes. The WAV is read in blocks and reduced while reading, so an
hour-long slice costs no more memory than a second.
"""

from __future__ import annotations

from pathlib import Path

import soundfile

from appliance.services.pictures.piano_roll import Note, piano_roll_png
from appliance.services.pictures.waveform import Envelope, envelope, waveform_png
from appliance.services.slicing.midi_export import SMF_RATE, read_smf
from appliance.services.slicing.note_pairing import played_notes

WIDTH, HEIGHT = 800, 300
BLOCK_FRAMES = 1 << 16  # frames read at a time


def wav_png(path: Path, *, title: str, start_s: float, channels: list[int] | None = None, width: int = WIDTH,
            height: int = HEIGHT) -> bytes:
    """The waveform of the WAV at `path`, its time axis starting at `start_s`; `channels` names its columns."""
    reduced, sample_rate = wav_envelope(path, width)
    numbers = channels if channels is not None else list(range(reduced.low.shape[1]))
    return waveform_png(reduced, sample_rate, title=title, start_s=start_s, width=width, height=height,
                        channel_labels=[f"ch {c}" for c in numbers])


def wav_envelope(path: Path, columns: int) -> tuple[Envelope, int]:
    """The WAV's min/max envelope in at most `columns` columns, and its sample rate."""
    with soundfile.SoundFile(str(path)) as wav:
        blocks = wav.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True)
        return envelope(blocks, wav.frames, columns), wav.samplerate


def smf_png(path: Path, *, title: str, start_s: float, duration_s: float, width: int = WIDTH,
            height: int = HEIGHT) -> bytes:
    """The piano roll of the Standard MIDI File at `path` over [start_s, start_s + duration_s)."""
    return piano_roll_png(smf_notes(path, start_s), title=title, duration_s=duration_s, start_s=start_s,
                          width=width, height=height)


def smf_notes(path: Path, start_s: float) -> list[Note]:
    """The file's notes (paired as `note_pairing` pairs them), timed from `start_s`; a note never ended ends with
    the file."""
    messages, length = read_smf(path, SMF_RATE)
    return [Note(n.pitch, start_s + n.start_s, n.duration_s, n.velocity, n.channel)
            for n in played_notes(messages, 0, length, SMF_RATE).notes]
