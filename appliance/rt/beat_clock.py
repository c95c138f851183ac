"""The beat clock: sample positions mapped to CLOCK_MONOTONIC, and beats mapped to samples.

`SampleClock` says which sample is sounding now. Without a paced playback
device it runs on CLOCK_MONOTONIC from a fixed origin; with one, the playback
thread re-anchors it every period to the device's own position, so beats
follow the sound card's crystal rather than the CPU's.

`TempoMap` is an anchor (sample, beat, tempo, state) set by
play/pause/stop/seek/tempo, plus the anchor before it, so a change that takes
effect a little in the future leaves the present unchanged. Beat = f(sample,
tempo map): every thread computes beats from samples, never by counting.

Both are seqlocks over a fixed `array` (as `head.py`): one writer (the
control thread) and realtime readers that never wait on it.
"""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass

from appliance.proto.transport_messages import PlayState

NS = 1_000_000_000
STOPPED, PLAYING, PAUSED = 0, 1, 2
STATE_NAMES: dict[int, PlayState] = {STOPPED: "stopped", PLAYING: "playing", PAUSED: "paused"}
STATE_CODES = {name: code for code, name in STATE_NAMES.items()}

_SEQ, _SAMPLE, _MONO = range(3)
# The tempo map's array: sequence, jump count, then the current and previous segments.
_TSEQ, _JUMPS, _STATE, _ASAMPLE, _ABEAT, _BPM, _PSTATE, _PSAMPLE, _PBEAT, _PBPM = range(10)


class SampleClock:
    """Sample position <-> CLOCK_MONOTONIC at one sample rate, through a (sample, time) anchor."""

    def __init__(self, sample_rate: int, origin_ns: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.ns_per_sample = NS / sample_rate
        self._a = array("d", [0.0, 0.0, float(time.monotonic_ns() if origin_ns is None else origin_ns)])

    def follow(self, sample: float, mono_ns: float) -> None:
        """Re-anchor: `sample` sounded at `mono_ns` (called by the thread that owns the device)."""
        a = self._a
        a[_SEQ] += 1
        a[_SAMPLE] = sample
        a[_MONO] = mono_ns
        a[_SEQ] += 1

    def _anchor(self) -> tuple[float, float]:
        a = self._a
        while True:
            seq = a[_SEQ]
            sample, mono = a[_SAMPLE], a[_MONO]
            if seq % 2 == 0 and a[_SEQ] == seq:
                return sample, mono

    def sample_at(self, mono_ns: float) -> float:
        sample, mono = self._anchor()
        return sample + (mono_ns - mono) / self.ns_per_sample

    def now_sample(self) -> float:
        return self.sample_at(time.monotonic_ns())

    def mono_at(self, sample: float) -> int:
        """When `sample` sounds (or sounded), in CLOCK_MONOTONIC nanoseconds."""
        anchor, mono = self._anchor()
        return int(mono + (sample - anchor) * self.ns_per_sample)


@dataclass(frozen=True, slots=True)
class TransportState:
    """What TransportStateChanged reports: the state and where the transport is at `sample`."""

    state: PlayState
    beat: float
    tempo_bpm: float
    sample: int


class TempoMap:
    """The tempo map and play state; commands take effect at a sample the caller chooses."""

    def __init__(self, sample_rate: int, bpm: float = 120.0) -> None:
        self.sample_rate = sample_rate
        self._a = array("d", [0.0, 0.0, STOPPED, 0.0, 0.0, bpm, STOPPED, 0.0, 0.0, bpm])

    # -- commands (control thread) -----------------------------------------
    def play(self, at: float) -> None:
        if self._a[_STATE] != PLAYING:
            self._set(PLAYING, at, self.beat_at(at), self._a[_BPM], jump=True)

    def pause(self, at: float) -> None:
        if self._a[_STATE] == PLAYING:
            self._set(PAUSED, at, self.beat_at(at), self._a[_BPM], jump=True)

    def stop(self, at: float) -> None:
        self._set(STOPPED, at, 0.0, self._a[_BPM], jump=True)

    def seek(self, at: float, beat: float) -> None:
        self._set(self._a[_STATE], at, beat, self._a[_BPM], jump=True)

    def tempo(self, at: float, bpm: float) -> None:
        """A tempo change is not a jump: beats continue from where they are at `at`."""
        self._set(self._a[_STATE], at, self.beat_at(at), bpm, jump=False)

    def restore(self, at: float, state: PlayState, beat: float, bpm: float) -> None:
        """Put back a saved transport (after a restart): `state` from `beat` at `bpm`, as one jump at `at`."""
        self._set(STATE_CODES[state], at, beat, bpm, jump=True)

    def _set(self, state: float, at: float, beat: float, bpm: float, jump: bool) -> None:
        a = self._a
        a[_TSEQ] += 1
        a[_PSTATE], a[_PSAMPLE], a[_PBEAT], a[_PBPM] = a[_STATE], a[_ASAMPLE], a[_ABEAT], a[_BPM]
        a[_STATE], a[_ASAMPLE], a[_ABEAT], a[_BPM] = state, at, beat, bpm
        if jump:
            a[_JUMPS] += 1
        a[_TSEQ] += 1

    # -- reading (any thread) ----------------------------------------------
    def load_into(self, out: array) -> None:
        """Copy a consistent snapshot into `out` (an array("d") of the same length), without waiting."""
        a = self._a
        while True:
            seq = a[_TSEQ]
            out[:] = a
            if seq % 2 == 0 and a[_TSEQ] == seq:
                return

    def view(self) -> "TempoMapView":
        return TempoMapView(self)

    def beat_at(self, sample: float) -> float:
        snap = self.view()
        return snap.beat_at(sample)

    def state(self, sample: float) -> TransportState:
        snap = self.view()
        return TransportState(STATE_NAMES[snap.state_at(sample)], snap.beat_at(sample), snap.bpm, int(sample))


class TempoMapView:
    """A reader's copy of the tempo map: `refresh()` then ask; preallocated so realtime loops can hold one."""

    def __init__(self, transport: TempoMap) -> None:
        self.transport = transport
        self.snap = array("d", bytes(8 * 10))
        self.refresh()

    def refresh(self) -> None:
        self.transport.load_into(self.snap)

    @property
    def jumps(self) -> float:
        return self.snap[_JUMPS]

    @property
    def bpm(self) -> float:
        return self.snap[_BPM]

    def tempo_now(self) -> float:
        """The tempo of the newest segment, read fresh (for callers outside the realtime loops)."""
        self.refresh()
        return self.snap[_BPM]

    @property
    def anchor_sample(self) -> float:
        return self.snap[_ASAMPLE]

    @property
    def anchor_beat(self) -> float:
        return self.snap[_ABEAT]

    def state_at(self, sample: float) -> int:
        s = self.snap
        return int(s[_STATE] if sample >= s[_ASAMPLE] else s[_PSTATE])

    def playing(self) -> bool:
        """Playing in the current segment (what follows the anchor)."""
        return self.snap[_STATE] == PLAYING

    def beat_at(self, sample: float) -> float:
        s = self.snap
        if sample >= s[_ASAMPLE]:
            state, anchor, beat, bpm = s[_STATE], s[_ASAMPLE], s[_ABEAT], s[_BPM]
        else:
            state, anchor, beat, bpm = s[_PSTATE], s[_PSAMPLE], s[_PBEAT], s[_PBPM]
        if state != PLAYING:
            return beat
        return beat + (sample - anchor) * bpm / (60.0 * self.transport.sample_rate)

    def sample_at(self, beat: float) -> float:
        """The sample where the playing transport reaches `beat`: in the current segment, or the one before
        it when `beat` falls between them (a tempo change that takes effect ahead); inf when it never does."""
        s = self.snap
        if s[_STATE] == PLAYING and beat >= s[_ABEAT]:
            return s[_ASAMPLE] + (beat - s[_ABEAT]) * 60.0 * self.transport.sample_rate / s[_BPM]
        if s[_PSTATE] == PLAYING and s[_PBEAT] <= beat < s[_ABEAT]:
            return s[_PSAMPLE] + (beat - s[_PBEAT]) * 60.0 * self.transport.sample_rate / s[_PBPM]
        return math.inf
