"""One stream's live state in hootenanny: what the stream service, its recovery and its users share.

A Recorder is only touched from the event loop; the steps that await
chaosgarden midway (a seal, a start, a stop, a reconcile) hold its `lock` so
that they do not interleave. What chaosgarden broadcasts between chunks (the
head, errors) is taken in here, where it changes nothing but this state.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.proto import stream_messages as wire
from appliance.proto.stream_definition import StreamDefinition, StreamKind
from appliance.services.capture.manifest import ClockSnapshot, LiveEdge, Manifest
from appliance.services.capture.stream_status import StreamStatus
from appliance.services.slicing.timepoints import available_range

NS = 1_000_000_000


@dataclass
class Recorder:
    """One stream's live state in hootenanny."""

    definition: StreamDefinition
    manifest: Manifest
    manifest_path: Path | None = None
    recording: bool = False
    xruns: int = 0
    last_error: str = ""
    device_connected: bool = True
    head_seen: float = 0.0  # time.monotonic() of the last head broadcast
    live_dirty: bool = False
    garden_lost: bool = False
    broken: str = ""  # why the manifest could not be read; the stream is unusable until repaired
    stopping: bool = False  # a stop of our own (disk full) is on its way
    head_clock: ClockSnapshot | None = None  # the clocks of the newest head chaosgarden told us of
    head_moved: asyncio.Event = field(default_factory=asyncio.Event)  # set (and replaced) at every head
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def head_sample(self) -> int:
        """Where the stream is readable to. A MIDI stream runs on with time, event or not: its head is the
        newest head's position (or the stop clock's), though no chunk may be open."""
        if self.definition.kind is StreamKind.AUDIO:
            return self.manifest.head_sample  # what available_range says for audio, without walking the chunks
        head = available_range(self.manifest)[1]
        if self.recording and self.head_clock is not None:
            head = max(head, self.head_clock.sample)
        return head

    def take_head(self, head: wire.HeadPosition, clock_seconds: float) -> None:
        """chaosgarden's head broadcast: the live edge, a clock reading every `clock_seconds`, and "now"."""
        self.head_seen = time.monotonic()
        if not head.monotonic_ns:
            return  # a head from before the capture thread's first reading carries no clock
        reading = ClockSnapshot(sample=head.sample, monotonic_ns=head.monotonic_ns, realtime_ns=head.realtime_ns,
                                reason="periodic")
        clocks = self.manifest.clocks
        if not clocks or clocks[-1].reason in ("stop", "restart"):
            clocks.append(reading.model_copy(update={"reason": "start"}))
        if self._stale(head):
            return
        # A clock snapshot from the head now and then, so wall-clock time points map through a recent pin on
        # every stream: MIDI streams seal rarely and so have few chunk-boundary clocks.
        if reading.realtime_ns - clocks[-1].realtime_ns >= clock_seconds * NS:
            clocks.append(reading)
            self.live_dirty = True
        live = self.manifest.live
        if live is not None and live.path != head.chunk_path:
            return  # chaosgarden moved on before we sealed the previous chunk: keep its edge until the seal
        if head.chunk_path:
            self.manifest.live = LiveEdge(path=head.chunk_path, first_sample=head.chunk_first_sample,
                                          head_sample=head.sample, head_bytes=head.byte_position)
        self.live_dirty = True
        # Only a head whose bytes are readable counts as the clock reading for "now" (wait_for_moment).
        self.head_clock = reading
        self.head_moved.set()
        self.head_moved = asyncio.Event()

    def _stale(self, head: wire.HeadPosition) -> bool:
        """A head that arrives after its chunk was sealed, or behind the live edge we have.

        After a stall, catching up by request (reconcile) can seal chunks before
        the queued head broadcasts about them are read; taking one of those as
        the live edge would pin the edge to a chunk that is already sealed.
        """
        # Every chunk, audio or MIDI, starts where the one before it ends: a head about a chunk that starts
        # before the newest sealed one ends is about that chunk, or an older one.
        sealed_end = self.manifest.chunks[-1].end_sample if self.manifest.chunks else -1
        if head.chunk_path and head.chunk_first_sample < sealed_end:
            return True
        live = self.manifest.live
        return live is not None and live.path == head.chunk_path and head.sample < live.head_sample

    def take_error(self, error: wire.StreamError, clock: ClockSnapshot | None) -> bool:
        """chaosgarden's error broadcast, with its clock reading as the manifest keeps it (None when it read none).

        Returns whether `last_error` changed (and should outlive a restart).
        """
        self.xruns = error.xruns
        if error.kind == "deviceLost":
            self.device_connected = False
        elif error.kind == "deviceBack":
            self.device_connected = True
        if clock is not None:
            self.manifest.clocks.append(clock)
        self.live_dirty = True
        if error.kind == "deviceBack":
            return False
        self.last_error = error.error
        return True

    def status(self, registry_says: bool | None) -> StreamStatus:
        """The stream's status; `registry_says` is whether the device registry knows the device as connected."""
        m = self.manifest
        state = ("broken" if self.broken else
                 "recording" if self.recording else ("stopped" if m.chunks or m.gaps else "defined"))
        if self.recording:  # what chaosgarden last said of the device
            connected = self.device_connected and not self.garden_lost
        else:  # the registry, or the last try
            connected = self.device_connected if registry_says is None else registry_says and self.device_connected
        return StreamStatus(uri=self.definition.uri, state=state, head_sample=self.head_sample,
                            chunks_sealed=len(m.chunks), bytes=sum(c.bytes for c in m.chunks), xruns=self.xruns,
                            device=self.definition.device, device_connected=connected, last_error=self.last_error)
