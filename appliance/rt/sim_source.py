"""The simulated Eurorack: a paced, deterministic audio source and a MIDI source.

Used by `studio up` on machines without sound hardware. Sample `n` of the
audio is always the same (a one-second loop: a triangle per channel and a
clock pulse on the last), so a test can check any recorded sample against
`sim_frames`. Pacing follows CLOCK_MONOTONIC; a reader that falls more than a
buffer behind gets an `Overrun` and loses those frames, as with hardware.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sample_formats import encode_float
from appliance.rt.sources import NS, AudioSpec, Overrun

BUFFER_PERIODS = 4


def sim_waveform(sample_rate: int, channels: int) -> np.ndarray:
    """One second of the simulated patch, shape (sample_rate, channels), floats in [-1, 1]."""
    n = np.arange(sample_rate)
    out = np.empty((sample_rate, channels))
    for c in range(channels):
        cycles = 110 * (c + 1)  # whole cycles per second: the loop is seamless
        phase = (n * cycles % sample_rate) / sample_rate
        out[:, c] = 0.5 * (1 - 4 * np.abs(phase - 0.5))
    if channels > 1:
        pulse_width = sample_rate // 100
        out[:, -1] = np.where((n % (sample_rate // 2)) < pulse_width, 0.8, 0.0)
    return out


def sim_frames(start: int, count: int, sample_rate: int, channels: int, fmt: SampleFormat) -> bytes:
    """The exact bytes the simulated source produces for frames [start, start + count)."""
    table = encode_float(sim_waveform(sample_rate, channels).reshape(-1), fmt)
    frame_bytes = channels * fmt.bytes_per_sample
    out = bytearray()
    pos = start
    while pos < start + count:
        at = pos % sample_rate
        take = min(sample_rate - at, start + count - pos)
        out += table[at * frame_bytes : (at + take) * frame_bytes]
        pos += take
    return bytes(out)


class SimAudioSource:
    buffer_periods = BUFFER_PERIODS  # how late a read may be before frames are lost

    def __init__(self, spec: AudioSpec, wake: threading.Event | None = None) -> None:
        self.spec = spec
        self._wake = wake or threading.Event()
        self._loop = memoryview(b"")
        self._t0 = 0
        self.frame = 0  # the device's own frame counter
        self.last_end_ns = 0

    def open(self) -> None:
        spec = self.spec
        one_second = sim_frames(0, spec.sample_rate, spec.sample_rate, spec.channels, spec.sample_format)
        # Twice round, so any period is one contiguous slice: no copying in read().
        self._loop = memoryview(one_second + one_second[: spec.period_bytes])
        self._t0 = time.monotonic_ns()
        self.frame = 0

    def _time_of(self, frame: int) -> int:
        return self._t0 + frame * NS // self.spec.sample_rate

    def read(self) -> memoryview:
        spec = self.spec
        end = self.frame + spec.period_frames
        deadline = self._time_of(end)
        now = time.monotonic_ns()
        if now > deadline + self.buffer_periods * spec.period_ns:
            # Like a sound card: what did not fit the buffer is gone; restart at "now".
            self.frame = (now - self._t0) * spec.sample_rate // NS
            raise Overrun()
        if now < deadline:
            self._wake.wait((deadline - now) / NS)
        at = (self.frame % spec.sample_rate) * spec.frame_bytes
        data = self._loop[at : at + spec.period_bytes]
        self.frame = end
        self.last_end_ns = deadline
        return data

    def close(self) -> None:
        self._loop = memoryview(b"")


class SimMidiSource:
    """Note on/off pairs on a sixteenth-note grid at 120 BPM, a fixed melody, channel 1."""

    STEP_NS = NS // 8
    MELODY = (36, 48, 43, 46, 36, 55, 51, 48)

    def __init__(self, wake: threading.Event | None = None) -> None:
        self._wake = wake or threading.Event()
        self._t0 = 0
        self.step = 0
        self.last_end_ns = 0

    def open(self) -> None:
        self._t0 = time.monotonic_ns()
        self.step = 0

    def read(self) -> bytes:
        due = self._t0 + (self.step + 1) * self.STEP_NS
        now = time.monotonic_ns()
        if now < due:
            if self._wake.wait((due - now) / NS):
                return b""
        note = self.MELODY[(self.step // 2) % len(self.MELODY)]
        data = bytes((0x90, note, 100)) if self.step % 2 == 0 else bytes((0x80, note, 0))
        self.step += 1
        self.last_end_ns = due
        return data

    def close(self) -> None:
        pass
