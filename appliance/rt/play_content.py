"""What the timeline plays, prepared on the control side: WAV decoded and resampled, MIDI as beat-placed bytes.

Everything here runs outside the realtime threads (in a worker thread of
the control loop). The results are immutable and handed over by replacing
one attribute (`AudioRegions`, `MidiSchedule`), so the playback and MIDI
threads read a consistent table without a lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

MIME_WAV = "audio/wav"
MIME_MIDI = "audio/midi"


class ContentError(ValueError):
    """Content that cannot be played; the message says which file and why."""


# -- audio -----------------------------------------------------------------
def load_audio(path: Path, sample_rate: int, channels: int, gain: float, max_seconds: float = 0.0) -> np.ndarray:
    """The file as float32 frames (n, channels) at `sample_rate`, times `gain`, cut to `max_seconds` (0: all)."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise ContentError(f"{path.name}: not a readable audio file: {exc}") from None
    data = _fit_channels(data, channels)
    if rate != sample_rate:
        data = resample_linear(data, rate, sample_rate)
    if max_seconds > 0:
        data = data[: int(round(max_seconds * sample_rate))]
    return np.ascontiguousarray(data * np.float32(gain), dtype=np.float32)


def _fit_channels(data: np.ndarray, channels: int) -> np.ndarray:
    """Mono is copied to every output channel; extra channels are dropped, missing ones stay silent."""
    if data.shape[1] == channels:
        return data
    if data.shape[1] == 1:
        return np.repeat(data, channels, axis=1)
    out = np.zeros((data.shape[0], channels), dtype=np.float32)
    keep = min(channels, data.shape[1])
    out[:, :keep] = data[:, :keep]
    return out


def resample_linear(data: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear interpolation to `target` Hz (scipy is not installed on the box; this is enough for cues)."""
    n_out = int(round(data.shape[0] * target / rate))
    positions = np.arange(n_out) * (rate / target)
    source = np.arange(data.shape[0])
    return np.stack([np.interp(positions, source, data[:, c]) for c in range(data.shape[1])], axis=1).astype(
        np.float32)


@dataclass(frozen=True, slots=True)
class AudioRegion:
    id: str
    at_beat: float
    end_beat: float  # inf: until the audio ends
    audio: np.ndarray  # float32 (frames, channels), gain applied
    # A removed region that was sounding keeps playing a short fade from this beat, and only within
    # the transport run (jump count) it was removed in, so a later seek back does not bring it back.
    fade_from: float = math.inf
    run: float = -1.0

    def fading(self, beat: float, run: float) -> "AudioRegion":
        """This region as the tail of its removal: faded out from `beat`, in transport run `run`."""
        return AudioRegion(self.id, self.at_beat, self.end_beat, self.audio, beat, run)


@dataclass(frozen=True, slots=True)
class AudioRegions:
    regions: tuple[AudioRegion, ...] = ()


# -- MIDI ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MidiEvents:
    """One file's channel messages in time order: where each falls in beats and in seconds (at the file's tempo)."""

    beats: tuple[float, ...]
    seconds: tuple[float, ...]
    messages: tuple[bytes, ...]

    @property
    def length_seconds(self) -> float:
        return self.seconds[-1] if self.seconds else 0.0


def load_midi(path: Path) -> MidiEvents:
    try:
        midi = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ContentError(f"{path.name}: not a readable Standard MIDI File: {exc}") from None
    beats, seconds, messages = [], [], []
    ticks, elapsed = 0, 0.0
    # Merged tracks with times in ticks; seconds follow the file's own tempo changes.
    tempo = 500_000
    for msg in mido.merge_tracks(midi.tracks):
        ticks += msg.time
        elapsed += mido.tick2second(msg.time, midi.ticks_per_beat, tempo)
        if msg.type == "set_tempo":
            tempo = msg.tempo
        if not msg.is_meta and msg.type != "sysex":
            beats.append(ticks / midi.ticks_per_beat)
            seconds.append(elapsed)
            messages.append(bytes(msg.bytes()))
    return MidiEvents(tuple(beats), tuple(seconds), tuple(messages))


def cut_midi(events: MidiEvents, end: float, by_beats: bool) -> MidiEvents:
    """Events before `end` (beats or seconds), plus a note-off at `end` for every note still sounding."""
    times = events.beats if by_beats else events.seconds
    kept = [i for i, t in enumerate(times) if t < end]
    offs = _note_offs([events.messages[i] for i in kept])
    beats = [events.beats[i] for i in kept] + [end if by_beats else _beat_of(events, end)] * len(offs)
    seconds = [events.seconds[i] for i in kept] + [_second_of(events, end) if by_beats else end] * len(offs)
    return MidiEvents(tuple(beats), tuple(seconds), tuple([events.messages[i] for i in kept] + offs))


def sounding_at(events: MidiEvents, beat: float) -> list[bytes]:
    """Note-offs for the notes the events leave sounding at `beat` (what removing them mid-note must send)."""
    return _note_offs([m for b, m in zip(events.beats, events.messages, strict=True) if b <= beat])


def _note_offs(messages: list[bytes]) -> list[bytes]:
    sounding: dict[tuple[int, int], None] = {}
    for message in messages:
        status, data = message[0], message[1:]
        kind, channel = status & 0xF0, status & 0x0F
        if kind == 0x90 and data[1] > 0:
            sounding[(channel, data[0])] = None
        elif kind in (0x80, 0x90):
            sounding.pop((channel, data[0]), None)
    return [bytes((0x80 | ch, note, 0)) for ch, note in sounding]


def _beat_of(events: MidiEvents, second: float) -> float:
    return float(np.interp(second, events.seconds, events.beats)) if events.seconds else 0.0


def _second_of(events: MidiEvents, beat: float) -> float:
    return float(np.interp(beat, events.beats, events.seconds)) if events.beats else 0.0


@dataclass(frozen=True, slots=True)
class MidiSchedule:
    """Every MIDI region's events on the timeline, sorted by beat."""

    beats: tuple[float, ...] = ()
    messages: tuple[bytes, ...] = ()

    @staticmethod
    def of(placed: list[tuple[float, MidiEvents]]) -> "MidiSchedule":
        pairs = sorted(((at + b, m) for at, ev in placed for b, m in zip(ev.beats, ev.messages, strict=True)),
                       key=lambda p: (p[0], _off_first(p[1])))
        return MidiSchedule(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def _off_first(message: bytes) -> int:
    """At the same beat a note-off goes before a note-on, so a repeated note is re-struck, not cut."""
    kind = message[0] & 0xF0
    return 0 if kind == 0x80 or (kind == 0x90 and message[2] == 0) else 1
