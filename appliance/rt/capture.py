"""The capture threads: one per stream, reading its source and laying bytes into chunks.

These loops are the realtime part of chaosgarden. Inside them: no logging,
no locks, no system calls but the source's read, and no allocation beyond
the buffer pyalsaaudio returns per period (its API has no read-into). What
happens (xruns, unplugs, full chunks) is left in deques for the control
thread, which publishes it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from appliance.proto.midi_record import pack_record
from appliance.rt.chunk_writer import ChunkWriter
from appliance.rt.head import Head
from appliance.rt.realtime import set_fifo
from appliance.rt.sources import NS, DeviceLost, Overrun

REOPEN_INTERVAL_NS = 500_000_000
ABSENT_POLL_S = 0.05
# While a device is away, silence is written up to this far behind "now", so
# the first real period after it returns never lands on silence already written.
SILENCE_LAG_NS = 200_000_000


class Source(Protocol):
    last_end_ns: int

    def open(self) -> None: ...
    def read(self) -> bytes | memoryview: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """Something the control thread must publish: xrun, deviceLost, deviceBack, ringOverflow."""

    kind: str
    message: str
    sample: int
    monotonic_ns: int
    lost_samples: int = 0


class CaptureThread(threading.Thread):
    """Shared state and device-absence handling for audio and MIDI capture."""

    def __init__(self, name: str, source: Source, writer: ChunkWriter, sample_rate: int, priority: int) -> None:
        super().__init__(name=name, daemon=True)
        self.source = source
        self.writer = writer
        self.sample_rate = sample_rate
        self.priority = priority  # SCHED_FIFO priority; 0 keeps normal scheduling
        self.head = Head()
        self.events: deque[CaptureEvent] = deque()
        self.stopping = threading.Event()
        self.device_hint = threading.Event()  # set by udev news or stop: look again now
        self.unplugged = threading.Event()  # set by udev's removal: the device is gone until it is added again
        self.connected = True
        self.xruns = 0
        self._next_reopen_ns = 0
        self._dropped_seen = 0
        self._ring_report_due_ns = 0
        self._offset_ns = 0
        self._offset_due_ns = 0

    def _realtime_offset(self, mono: int) -> int:
        """CLOCK_REALTIME minus CLOCK_MONOTONIC, re-read once a second (NTP slews it slowly)."""
        if mono >= self._offset_due_ns:
            self._offset_ns = time.time_ns() - time.monotonic_ns()
            self._offset_due_ns = mono + NS
        return self._offset_ns

    def stop(self) -> None:
        self.stopping.set()
        self.device_hint.set()

    def unplug(self) -> None:
        """udev says the device left: stop reading it until udev says it is back.

        Some drivers (and the ALSA file plugin) go on returning periods after
        the device is gone; those would be stale audio at the wrong time.
        """
        self.unplugged.set()

    def plug(self) -> None:
        self.unplugged.clear()
        self.device_hint.set()

    def stream_sample(self) -> int:
        """The stream's position now, in samples (counting what waits in the RAM ring)."""
        return self.writer.samples_captured

    def _event(self, kind: str, message: str, lost: int = 0) -> None:
        self.events.append(CaptureEvent(kind, message, self.stream_sample(), time.monotonic_ns(), lost))

    def _lose(self, reason: str) -> None:
        self.source.close()
        self.connected = False
        self._next_reopen_ns = time.monotonic_ns() + REOPEN_INTERVAL_NS
        self._event("deviceLost", reason)

    def _try_reopen(self) -> bool:
        if self.unplugged.is_set():
            return False
        now = time.monotonic_ns()
        if not self.device_hint.is_set() and now < self._next_reopen_ns:
            return False
        self.device_hint.clear()
        self._next_reopen_ns = now + REOPEN_INTERVAL_NS
        try:
            self.source.open()
        except DeviceLost:
            return False
        self.connected = True
        self._event("deviceBack", "device is back")
        return True

    def _check_ring(self) -> None:
        """Report ring overflow at most once a second (it happens every period while it lasts)."""
        now = time.monotonic_ns()
        if now < self._ring_report_due_ns:
            return
        self._ring_report_due_ns = now + NS
        dropped = self.writer.ring.dropped_bytes
        if dropped != self._dropped_seen:
            lost = (dropped - self._dropped_seen) // self.writer.frame_bytes
            self._dropped_seen = dropped
            self._event("ringOverflow", "no spare chunk and the RAM ring is full: audio replaced by silence", lost)


class AudioCapture(CaptureThread):
    def __init__(self, name: str, source: Source, writer: ChunkWriter, sample_rate: int, frame_bytes: int,
                 period_frames: int, priority: int, start_mono_ns: int = 0) -> None:
        super().__init__(name, source, writer, sample_rate, priority)
        self.frame_bytes = frame_bytes
        self.period_ns = period_frames * NS // sample_rate
        # Monotonic time of the stream's last sample. A stream continuing after a gap
        # starts at the time of its start frame, so its first period lands where it belongs.
        self.last_end_ns = start_mono_ns
        self._gap_kind = "resume" if start_mono_ns else ""  # the next period first fills a gap: "xrun", ...

    def run(self) -> None:
        if self.priority > 0:
            set_fifo(self.priority)  # refused: it says so, and the loop runs at normal priority
        source, writer, ring = self.source, self.writer, self.writer.ring
        # Bound once: attribute lookups are a measurable share of a period's work.
        read, write, store_head, stopped = source.read, writer.write, self._store_head, self.stopping.is_set
        unplugged = self.unplugged.is_set
        while not stopped():
            if not self.connected:
                self._absent()
                continue
            if unplugged():
                self._lose("device removed (udev)")
                continue
            try:
                data = read()
            except Overrun:
                self.xruns += 1
                self._gap_kind = "xrun"
                continue
            except DeviceLost as exc:
                self._lose(str(exc))
                continue
            if stopped():
                break  # this period completed after the stop: not part of the recording
            end = source.last_end_ns
            if self._gap_kind:
                self._fill_gap(end - self.period_ns)
            write(data)
            self.last_end_ns = end
            store_head(end)
            if ring.dropped_bytes != self._dropped_seen:
                self._check_ring()

    def _fill_gap(self, resume_ns: int) -> None:
        """Silence from the stream's last sample to where capture resumed."""
        kind, self._gap_kind = self._gap_kind, ""
        if not self.last_end_ns:
            return
        frames = max(0, round((resume_ns - self.last_end_ns) * self.sample_rate / NS))
        self.writer.write_silence(frames * self.frame_bytes)
        if kind == "xrun":
            self._event(kind, f"overrun: {frames} frames lost, filled with silence", frames)

    def _absent(self) -> None:
        self.device_hint.wait(ABSENT_POLL_S)
        if self.last_end_ns:
            target = time.monotonic_ns() - SILENCE_LAG_NS
            owed = (target - self.last_end_ns) * self.sample_rate // NS
            if owed > 0:
                self.writer.write_silence(owed * self.frame_bytes)
                self.last_end_ns += owed * NS // self.sample_rate
                self._store_head(self.last_end_ns)
        if not self.stopping.is_set() and self._try_reopen():
            self._gap_kind = "deviceBack"

    def _store_head(self, mono: int) -> None:
        w = self.writer
        chunk = w.current
        real = mono + self._realtime_offset(mono)
        if chunk is None:
            self.head.store(w.samples_in_files, -1, 0, w.samples_in_files, mono, real)
        else:
            self.head.store(w.samples_in_files, chunk.serial, chunk.used, chunk.first_sample, mono, real)


class MidiCapture(CaptureThread):
    """Raw MIDI bursts as timestamped records; the stream sample is derived from CLOCK_MONOTONIC.

    MIDI is sparse: a chunk could take hours to fill. So a chunk is handed over
    for sealing once its oldest record is `seal_after_ns` old, which bounds how
    long any event lives only in a staging file.
    """

    def __init__(self, name: str, source: Source, writer: ChunkWriter, sample_rate: int, start_sample: int,
                 priority: int, start_mono_ns: int = 0, seal_after_ns: int = 60 * NS) -> None:
        super().__init__(name, source, writer, sample_rate, priority)
        self.start_sample = start_sample
        self.t0_ns = start_mono_ns or time.monotonic_ns()
        self.seal_after_ns = seal_after_ns
        self._oldest_unsealed_ns = 0  # arrival of the first record in the current chunk; 0: it holds none
        # The chunk writer counts a MIDI chunk's place in bytes; hootenanny needs the stream sample each chunk
        # starts at, as for audio, to join the live chunk to the sealed ones. A chunk covers the samples from
        # just after the previous chunk's last record (the stream's start for the first one).
        self._last_record_sample = start_sample - 1
        self._placed_serial = -1  # the chunk whose first_sample we set last

    def sample_at(self, mono_ns: int) -> int:
        return self.start_sample + (mono_ns - self.t0_ns) * self.sample_rate // NS

    def prime_head(self) -> None:
        """A head before the first event: MIDI positions are time-derived, so it is exact at once.

        hootenanny takes a stream's start clock from its first head, and a
        MIDI port may stay silent for minutes.
        """
        self._store_head(time.monotonic_ns())

    def stream_sample(self) -> int:
        return self.sample_at(time.monotonic_ns())

    def run(self) -> None:
        if self.priority > 0:
            set_fifo(self.priority)  # refused: it says so, and the loop runs at normal priority
        while not self.stopping.is_set():
            if not self.connected:
                self.device_hint.wait(ABSENT_POLL_S)
                self._try_reopen()
                self._store_head(time.monotonic_ns())
                continue
            if self.unplugged.is_set():
                self._lose("device removed (udev)")
                continue
            try:
                data = self.source.read()
            except DeviceLost as exc:
                self._lose(str(exc))
                continue
            if data and not self.stopping.is_set():
                mono = self.source.last_end_ns
                before = self.writer.current
                fresh = before is None or before.used == 0
                sample = self.sample_at(mono)
                self.writer.write(pack_record(mono, sample, bytes(data)))
                if fresh or self.writer.current is not before:
                    self._oldest_unsealed_ns = mono
                self._place_chunk()
                self._last_record_sample = sample
                self._check_ring()
            now = time.monotonic_ns()
            if self._oldest_unsealed_ns and now - self._oldest_unsealed_ns >= self.seal_after_ns:
                self.writer.cut()
                self._oldest_unsealed_ns = 0
            self._store_head(now)

    def _place_chunk(self) -> None:
        """A chunk that just took its first record starts after the previous chunk's last record."""
        chunk = self.writer.current
        if chunk is not None and chunk.serial != self._placed_serial:
            chunk.first_sample = self._last_record_sample + 1
            self._placed_serial = chunk.serial

    def _store_head(self, mono: int) -> None:
        chunk = self.writer.current
        real = mono + self._realtime_offset(mono)
        serial, used, first = (chunk.serial, chunk.used, chunk.first_sample) if chunk else (-1, 0, 0)
        self.head.store(self.sample_at(mono), serial, used, first, mono, real)
