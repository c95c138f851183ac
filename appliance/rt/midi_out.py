"""A MIDI output thread: timeline events and auditions written to a raw MIDI port at their exact time.

Events are placed in beats long before they are due (timeline regions) or
given a lead of AUDITION_LEAD_S (auditions), so the only timing error left
is this thread's wake-up: it sleeps until the CLOCK_MONOTONIC time of the
next event, computed from the tempo map, and writes it. A jump (play, seek,
stop) or a new schedule moves its cursor by bisection. The port is opened
non-blocking: a full port loses the event and counts it, never stalls time.
"""

from __future__ import annotations

import bisect
import errno
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from appliance.rt.beat_clock import NS, SampleClock, TempoMapView
from appliance.rt.realtime import set_fifo
from appliance.rt.play_content import MidiSchedule

AUDITION_LEAD_S = 0.1  # auditions start this far ahead, so their first event is never late
MAX_SLEEP_S = 0.005  # a command that moves the next event is seen within this
REOPEN_S = 0.5
NEVER = 2**62


@dataclass(frozen=True, slots=True)
class MidiBurst:
    """Audition events at absolute CLOCK_MONOTONIC times, in order."""

    times_ns: tuple[int, ...]
    messages: tuple[bytes, ...]


class MidiOutThread(threading.Thread):
    def __init__(self, path: str, clock: SampleClock, view: TempoMapView, priority: int) -> None:
        super().__init__(name=f"midi out {path}", daemon=True)
        self.path, self.clock, self.view, self.priority = path, clock, view, priority
        self.schedule = MidiSchedule()  # replaced by the control thread
        self.bursts: deque[MidiBurst] = deque()  # appended by the control thread
        self.at_once: deque[bytes] = deque()  # note-offs of a removed region: sent before anything else
        self.stopping = threading.Event()
        self.dropped = 0
        self.error = ""
        self._fd = -1
        self._jumps = -1.0
        self._seen: MidiSchedule | None = None
        self._cursor = 0
        self._burst: MidiBurst | None = None
        self._burst_at = 0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        if self.priority > 0:
            set_fifo(self.priority)  # refused: it says so, and the loop runs at normal priority
        stopped = self.stopping.is_set
        while not stopped():
            if self._fd < 0 and not self._open():
                time.sleep(REOPEN_S)
                continue
            due = min(self._next_timeline_ns(), self._next_burst_ns())
            now = time.monotonic_ns()
            while self.at_once:
                self._send(self.at_once.popleft())
            if due > now:
                time.sleep(min((due - now) / NS, MAX_SLEEP_S))
                continue
            self._write_due(now)
        if self._fd >= 0:
            os.close(self._fd)

    def _open(self) -> bool:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            self.error = f"cannot open MIDI output {self.path}: {exc.strerror}"
            return False
        self.error = ""
        return True

    def _next_timeline_ns(self) -> int:
        view, schedule = self.view, self.schedule
        view.refresh()
        if view.jumps != self._jumps or schedule is not self._seen:
            self._jumps, self._seen = view.jumps, schedule
            start = max(view.anchor_beat, view.beat_at(self.clock.now_sample()))
            self._cursor = bisect.bisect_left(schedule.beats, start)
        if not view.playing() or self._cursor >= len(schedule.beats):
            return NEVER
        return self._due_ns(schedule.beats[self._cursor])

    def _due_ns(self, beat: float) -> int:
        sample = self.view.sample_at(beat)
        return NEVER if sample == math.inf else self.clock.mono_at(sample)

    def _next_burst_ns(self) -> int:
        if self._burst is None:
            if not self.bursts:
                return NEVER
            self._burst, self._burst_at = self.bursts.popleft(), 0
        return self._burst.times_ns[self._burst_at]

    def _write_due(self, now: int) -> None:
        schedule, view = self._seen, self.view
        while schedule is not None and self._cursor < len(schedule.beats) and view.playing() and self._due_ns(schedule.beats[self._cursor]) <= now:
            self._send(schedule.messages[self._cursor])
            self._cursor += 1
        burst = self._burst
        while burst is not None and burst.times_ns[self._burst_at] <= now:
            self._send(burst.messages[self._burst_at])
            self._burst_at += 1
            if self._burst_at == len(burst.times_ns):
                self._burst = burst = None

    def _send(self, message: bytes) -> None:
        try:
            os.write(self._fd, message)
        except BlockingIOError:
            self.dropped += 1
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ENODEV, errno.EIO):
                os.close(self._fd)
                self._fd = -1
            self.dropped += 1
