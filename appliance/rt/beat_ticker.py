"""The clock thread: a beat tick at every 1/resolution of a beat, and markers as the transport passes them.

It sleeps until the exact CLOCK_MONOTONIC time of the next grid point (or
marker), computed from the tempo map, so ticks carry the ideal grid time and
sample position rather than the time the thread happened to wake. If it wakes
late (a long stall), it emits every missed tick in order: ticks are monotone
and never skip within a run; a jump (play, seek, stop) starts a new run.

Ticks go into a preallocated ring and markers into a deque; the control
thread drains both and publishes. Inside the loop: no logging, no locks.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass

from appliance.proto.transport_messages import Marker
from appliance.rt.beat_clock import NS, SampleClock, TempoMap, TempoMapView
from appliance.rt.realtime import set_fifo

IDLE_POLL_S = 0.005  # how soon a play command is noticed when stopped
MAX_SLEEP_S = 0.005  # a seek or tempo change is noticed within this while waiting for a far tick
RING_SLOTS = 4096  # ticks the control thread may fall behind by before the oldest are overwritten


@dataclass(frozen=True, slots=True)
class MarkerTable:
    """Markers sorted by beat, with the beats alone for bisecting; replaced whole, never mutated."""

    beats: tuple[float, ...] = ()
    markers: tuple[Marker, ...] = ()

    @staticmethod
    def of(markers: list[Marker]) -> "MarkerTable":
        ordered = sorted(markers, key=lambda m: m.beat)
        return MarkerTable(tuple(m.beat for m in ordered), tuple(ordered))


class TickRing:
    """Single-producer single-consumer ring of ticks (beat, bpm, sample, grid time, emitted time)."""

    def __init__(self, slots: int = RING_SLOTS) -> None:
        self.slots = slots
        self.beat = array("d", bytes(8 * slots))
        self.bpm = array("d", bytes(8 * slots))
        self.sample = array("q", bytes(8 * slots))
        self.grid_ns = array("q", bytes(8 * slots))
        self.emitted_ns = array("q", bytes(8 * slots))
        self.written = 0  # advanced after the slot is filled: the reader never sees half a tick
        self.read = 0

    def push(self, beat: float, bpm: float, sample: int, grid_ns: int, emitted_ns: int) -> None:
        i = self.written % self.slots
        self.beat[i] = beat
        self.bpm[i] = bpm
        self.sample[i] = sample
        self.grid_ns[i] = grid_ns
        self.emitted_ns[i] = emitted_ns
        self.written += 1

    def drain(self) -> list[tuple[float, float, int, int, int]]:
        """Ticks written since the last drain, oldest first (control thread)."""
        end = self.written
        start = max(self.read, end - self.slots)
        self.read = end
        out = []
        for n in range(start, end):
            i = n % self.slots
            out.append((self.beat[i], self.bpm[i], self.sample[i], self.grid_ns[i], self.emitted_ns[i]))
        return out


class BeatTicker(threading.Thread):
    def __init__(self, clock: SampleClock, transport: TempoMap, resolution: int, priority: int) -> None:
        super().__init__(name="beat clock", daemon=True)
        self.clock = clock
        self.transport = transport
        self.resolution = resolution
        self.priority = priority  # SCHED_FIFO priority; 0 keeps normal scheduling
        self.ticks = TickRing()
        self.reached: deque[Marker] = deque()
        self.markers = MarkerTable()  # replaced by the control thread
        self.stopping = threading.Event()
        self._view = TempoMapView(transport)
        self._jumps = -1.0
        self._next = 0  # index of the next tick: beat = index / resolution
        self._checked = 0.0  # markers up to this beat have fired

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        if self.priority > 0:
            set_fifo(self.priority)  # refused: it says so, and the loop runs at normal priority
        view, clock, stopped = self._view, self.clock, self.stopping.is_set
        while not stopped():
            view.refresh()
            if view.jumps != self._jumps:
                self._restart()
            if not view.playing():
                time.sleep(IDLE_POLL_S)
                continue
            now = clock.now_sample()
            if now < view.anchor_sample:
                self._sleep_until(clock.mono_at(view.anchor_sample))
                continue
            beat = view.beat_at(now)
            self._emit_ticks(beat)
            self._fire_markers(beat)
            self._sleep_until(self._next_deadline())

    def _restart(self) -> None:
        """A new run: ticks resume at the first grid point at or after where the transport now starts."""
        view = self._view
        self._jumps = view.jumps
        self._next = math.ceil(view.anchor_beat * self.resolution - 1e-9)
        self._checked = math.nextafter(view.anchor_beat, -math.inf)

    def _emit_ticks(self, beat: float) -> None:
        view, clock, ring, res = self._view, self.clock, self.ticks, self.resolution
        while self._next <= beat * res + 1e-9:
            tick_beat = self._next / res
            sample = view.sample_at(tick_beat)
            if sample == math.inf:  # the grid point lies before this segment: a tempo change moved it
                sample = view.anchor_sample
            ring.push(tick_beat, view.bpm, round(sample), clock.mono_at(sample), time.monotonic_ns())
            self._next += 1

    def _fire_markers(self, beat: float) -> None:
        table = self.markers
        first = bisect.bisect_right(table.beats, self._checked)
        last = bisect.bisect_right(table.beats, beat)
        for i in range(first, last):
            self.reached.append(table.markers[i])
        self._checked = beat

    def _next_deadline(self) -> int:
        view, table = self._view, self.markers
        target = self._next / self.resolution
        i = bisect.bisect_right(table.beats, self._checked)
        if i < len(table.beats) and table.beats[i] < target:
            target = table.beats[i]
        sample = view.sample_at(target)
        if sample == math.inf:  # cannot happen while playing; a slice of sleep re-reads the map
            return time.monotonic_ns() + int(MAX_SLEEP_S * NS)
        return self.clock.mono_at(sample)

    def _sleep_until(self, deadline_ns: int) -> None:
        """Sleep to the deadline in short slices, so a command that moves it is seen soon."""
        remaining = (deadline_ns - time.monotonic_ns()) / NS
        if remaining > 0:
            time.sleep(min(remaining, MAX_SLEEP_S))
