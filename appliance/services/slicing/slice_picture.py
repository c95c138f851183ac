"""A cut file as a picture: a WAV as its waveform, a Standard MIDI File as its piano roll.

This is where files meet `appliance.services.pictures`, which draws only from
arrays and notes. The WAV is read in blocks and reduced while reading, so an
hour-long slice costs no more memory than a second.
"""

from __future__ import annotations

from pathlib import Path

import mido
import soundfile

from appliance.services.pictures.piano_roll import Note, piano_roll_png
from appliance.services.pictures.waveform import Envelope, envelope, waveform_png

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
    """The file's notes, timed from `start_s`; a note never ended ends with the file.

    A note-on of velocity 0 ends a note, as the MIDI standard says; a second
    note-on of a sounding note does not restart it.
    """
    now = 0.0
    sounding: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch): (start, velocity)
    notes: list[Note] = []

    def end(channel: int, pitch: int) -> None:
        began, velocity = sounding.pop((channel, pitch))
        notes.append(Note(pitch, start_s + began, now - began, velocity, channel))

    for message in mido.MidiFile(str(path)):  # iterating a MidiFile yields delta times in seconds
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault((message.channel, message.note), (now, message.velocity))
        elif message.type in ("note_on", "note_off") and (message.channel, message.note) in sounding:
            end(message.channel, message.note)
    for channel, pitch in list(sounding):
        end(channel, pitch)
    return sorted(notes, key=lambda n: n.start_s)
