"""MIDI chunk records into a type 0 Standard MIDI File, each event at its stream sample, and such a file's
messages back on a sample clock.

The file has 480 ticks per beat and one tempo of 120 BPM, so a tick is exactly
1/960 s whatever the music's tempo: positions are times, not beats. SMF holds
channel messages and sysex only, so realtime and system common bytes (clock,
start/stop, song position) are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import mido
from mido.messages.specs import SPEC_BY_STATUS, SYSEX_END, SYSEX_START

from appliance.proto.midi_record import MidiRecord

TICKS_PER_BEAT = 480
TEMPO_US_PER_BEAT = 500_000  # 120 BPM
TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 // TEMPO_US_PER_BEAT
SMF_RATE = 48_000  # the sample clock a file's messages are read back on: finer than its ticks


class RunningStatus:
    """Puts back status bytes a sender left out (running status); mido's parser drops such data as stray."""

    def __init__(self) -> None:
        self.status = 0
        self.pending = 0  # data bytes still due for the current message; -1 inside sysex

    def expand(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if byte >= 0xF8:
                out.append(byte)
            elif byte >= 0x80:
                self._start(byte)
                out.append(byte)
            else:
                if self.pending == 0 and self.status:
                    out.append(self.status)
                    self.pending = SPEC_BY_STATUS[self.status]["length"] - 1
                out.append(byte)
                if self.pending > 0:
                    self.pending -= 1
        return bytes(out)

    def _start(self, status: int) -> None:
        self.status = status if status < 0xF0 else 0  # system common messages cancel running status
        if status == SYSEX_START:
            self.pending = -1
        elif status in SPEC_BY_STATUS and status != SYSEX_END:
            self.pending = SPEC_BY_STATUS[status]["length"] - 1
        else:
            self.pending = 0


def recorded_messages(records: Iterable[MidiRecord]) -> Iterator[tuple[int, mido.Message]]:
    """(frame, message) for every complete message, clock included; one that spans records takes the last one's
    frame."""
    parser, running = mido.Parser(), RunningStatus()
    for record in records:
        parser.feed(running.expand(record.data))
        for message in parser:
            yield record.sample, message


def timed_messages(records: Iterable[MidiRecord]) -> Iterator[tuple[int, mido.Message]]:
    """(frame, message) for every complete SMF-storable message (channel messages and sysex)."""
    for frame, message in recorded_messages(records):
        if message.type == "sysex" or hasattr(message, "channel"):
            yield frame, message


def read_smf(path: Path, sample_rate: int = SMF_RATE) -> tuple[list[tuple[int, mido.Message]], int]:
    """A Standard MIDI File's messages as (sample, message) at `sample_rate` from its start, and its length in
    samples (at least 1)."""
    smf = mido.MidiFile(str(path))
    messages, seconds = [], 0.0
    for message in smf:  # iterating a MidiFile gives each message's delta in seconds, through its tempo changes
        seconds += message.time
        if not message.is_meta:
            messages.append((round(seconds * sample_rate), message))
    return messages, max(1, math.ceil(smf.length * sample_rate))


def frame_to_tick(frames: int, sample_rate: int) -> int:
    """Ticks for `frames` after the slice start, to the nearest tick."""
    return (2 * frames * TICKS_PER_SECOND + sample_rate) // (2 * sample_rate)


def write_smf(records: Iterable[MidiRecord], start: int, end: int, sample_rate: int, path: Path) -> int:
    """Write the messages of `records` whose frame is in [start, end) as a type 0 SMF; returns the event count."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US_PER_BEAT, time=0)])
    last_tick = 0
    for frame, message in timed_messages(records):
        if start <= frame < end:
            tick = frame_to_tick(frame - start, sample_rate)
            track.append(message.copy(time=tick - last_tick))
            last_tick = tick
    track.append(mido.MetaMessage("end_of_track", time=frame_to_tick(end - start, sample_rate) - last_tick))
    mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT, tracks=[track]).save(path)
    return len(track) - 2
