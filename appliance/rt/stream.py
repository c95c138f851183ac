"""One capture stream as the control thread sees it: start, spares, stop, and what to publish.

The capture thread owns the hot path; this object prepares chunks ahead of
it, releases the ones it filled, turns its events into broadcasts, and keeps
every full chunk "unacknowledged" until hootenanny says it sealed it, so a
control plane that restarts can ask for them again (`state`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from appliance.config import RtConfig
from appliance.proto.stream_definition import StreamDefinition, StreamKind
from appliance.proto.stream_messages import (
    ChunkFull,
    ClockReason,
    ClockSnapshot,
    DeviceNotice,
    HeadPosition,
    StreamError,
    StreamErrorKind,
    StreamEvent,
    StreamState,
)
from appliance.rt.capture import AudioCapture, CaptureEvent, CaptureThread, MidiCapture
from appliance.rt.chunk_writer import ChunkPrepareError, ChunkWriter, FullChunk, MappedChunk
from appliance.rt.memory_budget import ring_bytes
from appliance.rt.overflow_ring import OverflowRing
from appliance.rt.sim_source import SimAudioSource, SimMidiSource
from appliance.rt.sources import AlsaPcmSource, AudioSpec, RawMidiSource

log = logging.getLogger(__name__)

# Capture event kinds that are also StreamErrorKind / ClockReason names on the wire.
ERROR_KINDS: dict[str, StreamErrorKind] = {"xrun": "xrun", "deviceLost": "deviceLost", "deviceBack": "deviceBack",
                                           "ringOverflow": "ringOverflow"}
CLOCK_REASONS: dict[str, ClockReason] = {"xrun": "xrun", "deviceLost": "deviceLost", "deviceBack": "deviceBack"}
_CARD = re.compile(r"^(?:plug)?hw:(?:CARD=)?([^,]+)")  # the card id in hw:CARD=ES9,DEV=0 / plughw:ES9

# What collect() and stop() hand the garden to publish: (topic, kind, message).
Broadcasts = list[tuple[str, str, StreamEvent]]


def clock(sample: int, mono: int, reason: ClockReason, real: int | None = None) -> ClockSnapshot:
    """The clocks at stream sample `sample`; realtime is derived from monotonic when not given."""
    if real is None:
        real = mono + time.time_ns() - time.monotonic_ns()
    return ClockSnapshot(sample=sample, monotonic_ns=mono, realtime_ns=real, reason=reason)


class CaptureStream:
    def __init__(self, definition: StreamDefinition, config: RtConfig, emergency_chunk: Callable[[], Path],
                 start_sample: int = 0, start_realtime_ns: int = 0) -> None:
        self.definition = definition
        self.config = config
        self.emergency_chunk = emergency_chunk  # a fresh staging path, for a ring that must empty at stop
        self.start_sample = start_sample
        # CLOCK_MONOTONIC of start_sample, when the stream's samples continue after a gap.
        self.start_mono_ns = start_realtime_ns - time.time_ns() + time.monotonic_ns() if start_realtime_ns else 0
        self.running = False
        self.last_error = ""
        self.unacknowledged: dict[str, ChunkFull] = {}  # by path
        self.clocks: deque[ClockSnapshot] = deque(maxlen=256)
        self._serial = 0
        self._paths: dict[int, Path] = {}
        self._head_told = False
        self.writer = ChunkWriter(
            frame_bytes=definition.frame_bytes,
            ring=OverflowRing(ring_bytes(definition, config)),
            whole_records=definition.kind is StreamKind.MIDI,
        )
        self.writer.samples_in_files = start_sample
        self.writer.samples_captured = start_sample
        self.thread: CaptureThread = self._make_thread()

    @property
    def uri(self) -> str:
        return self.definition.uri

    def _make_thread(self) -> CaptureThread:
        d = self.definition
        name = f"capture {d.uri}"
        if d.kind is StreamKind.MIDI:
            port = SimMidiSource() if d.device == "sim" else RawMidiSource(d.device)
            return MidiCapture(name, port, self.writer, d.sample_rate, self.start_sample, self.config.priority,
                               self.start_mono_ns, round(self.config.midi_seal_seconds * 1_000_000_000))
        spec = AudioSpec(d.device, d.sample_rate, d.channels, d.sample_format, d.period)
        source = SimAudioSource(spec) if d.device == "sim" else AlsaPcmSource(spec)
        return AudioCapture(name, source, self.writer, d.sample_rate, d.frame_bytes, d.period,
                            self.config.priority, self.start_mono_ns)

    def uses_device(self, notice: DeviceNotice) -> bool:
        """Whether a udev device notice is about this stream's device (by ALSA name or card id)."""
        device = self.definition.device
        if device == notice.alsa_name:
            return True
        card = _CARD.search(device)
        return card is not None and card.group(1) == notice.device_id

    # -- lifecycle (control thread) --------------------------------------
    def start(self, first: Path, spares: list[Path]) -> None:
        """Open the device (raises FormatRefused or DeviceLost), map chunks, start capturing."""
        for path in [first, *spares]:
            self.writer.spares.append(self._prepare(path))
        try:
            self.thread.source.open()
        except Exception:
            self._release_spares()
            raise
        self.clocks.append(clock(self.start_sample, self.start_mono_ns or time.monotonic_ns(), "start"))
        if isinstance(self.thread, MidiCapture):
            self.thread.prime_head()
        self.running = True
        self.thread.start()

    def _lose_ring(self, exc: ChunkPrepareError) -> None:
        """No chunk file can be made (disk full): what the ring still holds is lost, and said so."""
        samples = self.writer.ring.discard() // self.definition.frame_bytes
        self.last_error = f"{exc}; the last {samples} samples held in RAM could not be written and are lost"
        log.error("%s: %s", self.uri, self.last_error)

    def add_spare(self, path: Path) -> None:
        self.writer.spares.append(self._prepare(path))

    def _prepare(self, path: Path) -> MappedChunk:
        self._serial += 1
        chunk = MappedChunk.prepare(path, self.definition.chunk_bytes, self._serial)
        self._paths[self._serial] = path
        return chunk

    async def stop(self) -> Broadcasts:
        """Stop capturing; return the broadcasts still owed, the final chunk last."""
        self.thread.stop()
        await asyncio.to_thread(self.thread.join)
        self.thread.source.close()
        self.running = False
        # The capture thread is gone, so this thread may touch the writer: empty the ring,
        # into chunk files of our own making when hootenanny's spares are used up.
        self.writer.drain(1 << 62)
        while not self.writer.ring.empty:
            try:
                self.writer.spares.append(self._prepare(self.emergency_chunk()))
            except ChunkPrepareError as exc:
                self._lose_ring(exc)
                break
            self.writer.drain(1 << 62)
        out = self.collect()
        final = self.writer.finish()
        if final is not None:
            out.append(self._chunk_full(final, final=True))
        else:
            out.append(self._final_marker())
        self._release_spares()
        head = self.thread.head.load()
        self.clocks.append(clock(head.sample, head.monotonic_ns, "stop", head.realtime_ns))
        return out

    def _release_spares(self) -> None:
        while self.writer.spares:
            self.writer.spares.popleft().release()

    def acknowledge(self, path: str) -> bool:
        return self.unacknowledged.pop(path, None) is not None

    # -- what to publish (control thread) --------------------------------
    def collect(self) -> Broadcasts:
        """Broadcasts for chunks filled and events seen since the last call."""
        out: Broadcasts = []
        if self.writer.full and not self._head_told:
            # hootenanny takes a run's start clock from its first head, which must not come after a sealed
            # chunk: small chunks fill before the next periodic head.
            out.append(self.head_broadcast())
        while self.writer.full:
            out.append(self._chunk_full(self.writer.full.popleft(), final=False))
        while self.thread.events:
            out.append(self._error(self.thread.events.popleft()))
        return out

    def _chunk_full(self, full: FullChunk, final: bool) -> tuple[str, str, ChunkFull]:
        full.chunk.release()
        self._paths.pop(full.chunk.serial, None)
        snapshot = self._boundary_clock(full.first_sample + full.samples_written, "stop" if final else "chunkBoundary")
        self.clocks.append(snapshot)
        message = ChunkFull(stream_uri=self.uri, path=str(full.chunk.path), bytes_written=full.bytes_written,
                            samples_written=full.samples_written, first_sample=full.first_sample, clock=snapshot,
                            final=final)
        self.unacknowledged[message.path] = message
        return ("stream.chunk", ChunkFull.KIND, message)

    def _boundary_clock(self, end: int, reason: ClockReason) -> ClockSnapshot:
        """The clocks at a chunk's end: audio extrapolates from the head; MIDI positions are time-derived."""
        head = self.thread.head.load()
        if self.definition.kind is StreamKind.MIDI:
            return clock(head.sample, head.monotonic_ns, reason, head.realtime_ns)
        back = (head.sample - end) * 1_000_000_000 // self.definition.sample_rate
        return clock(end, head.monotonic_ns - back, reason, head.realtime_ns - back)

    def _final_marker(self) -> tuple[str, str, ChunkFull]:
        """A stop with nothing in the last chunk still tells hootenanny the stream ended."""
        head = self.thread.head.load()
        snapshot = clock(head.sample, head.monotonic_ns, "stop", head.realtime_ns)
        message = ChunkFull(stream_uri=self.uri, path="", bytes_written=0, samples_written=0,
                            first_sample=self.writer.samples_in_files, clock=snapshot, final=True)
        return ("stream.chunk", ChunkFull.KIND, message)

    def _error(self, event: CaptureEvent) -> tuple[str, str, StreamError]:
        snapshot = clock(event.sample, event.monotonic_ns, CLOCK_REASONS.get(event.kind, "periodic"))
        self.clocks.append(snapshot)
        if event.kind != "deviceBack":
            self.last_error = event.message
        level = logging.INFO if event.kind == "deviceBack" else logging.WARNING
        log.log(level, "%s: %s", self.uri, event.message)
        message = StreamError(stream_uri=self.uri, error=event.message, recoverable=True,
                              kind=ERROR_KINDS.get(event.kind, "other"), clock=snapshot,
                              lost_samples=event.lost_samples, xruns=getattr(self.thread, "xruns", 0))
        return ("stream.error", StreamError.KIND, message)

    @property
    def has_head(self) -> bool:
        """Whether the capture thread has stored a head yet; before that it would read as 1970 at sample 0."""
        return self.thread.head.load().monotonic_ns != 0

    def head_broadcast(self) -> tuple[str, str, HeadPosition]:
        self._head_told = True
        return ("stream.head", HeadPosition.KIND, self.head_position())

    def head_position(self) -> HeadPosition:
        head = self.thread.head.load()
        path = self._paths.get(head.chunk_serial)
        return HeadPosition(stream_uri=self.uri, sample=head.sample, byte_position=head.chunk_used,
                            monotonic_ns=head.monotonic_ns, realtime_ns=head.realtime_ns,
                            chunk_path=str(path) if path else "", chunk_first_sample=head.chunk_first_sample)

    def state(self) -> StreamState:
        return StreamState(
            uri=self.uri, running=self.running, head=self.head_position(),
            unacknowledged=tuple(self.unacknowledged.values()), spares_left=len(self.writer.spares),
            ring_samples=self.writer.ring.used // self.definition.frame_bytes,
            dropped_samples=self.writer.ring.dropped_bytes // self.definition.frame_bytes,
            xruns=getattr(self.thread, "xruns", 0), device_connected=self.thread.connected,
            last_error=self.last_error, clocks=tuple(self.clocks),
            spare_paths=tuple(str(c.path) for c in list(self.writer.spares)),
        )
