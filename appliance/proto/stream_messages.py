"""The capture-stream messages between chaosgarden and hootenanny, as typed values.

`streams.capnp` defines them on the wire (and `DeviceEvent` in
`broadcast.capnp`, which reaches chaosgarden as a `deviceNotice`); the codec
decodes a body into a dict of camelCase names. This module is the one place
that knows those names: each type's `to_wire` builds the dict the codec packs
(the codec calls it for any `WireMessage` body value), and `typed_value`
turns a decoded body back into its type. Everything outside `appliance.proto`
handles these types only.

Frozen dataclasses rather than pydantic models: a body is already checked
against its schema when the codec decodes it, so validating again would only
cost time, and chaosgarden's control thread builds a head broadcast per
stream every few milliseconds. The one field that needs rules of its own, the
stream definition, is a `StreamDefinition` model, parsed with its own checks.

Words: a *sample* is one position on a stream, one frame of every
channel (the design's word; the wire says "frames" in some names, e.g.
`ringFrames`, and these types say samples throughout). For MIDI streams the
chunk counts of `ChunkFull` are bytes (`samples_written == bytes_written`);
each record in the chunk carries its own stream sample (`midi_record.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from appliance.proto.codec import Body, WireMessage
from appliance.proto.stream_definition import StreamDefinition, StreamKind

# Enum members of streams.capnp, by their wire names (the manifest keeps clock reasons as these strings too).
ClockReason = Literal["start", "stop", "chunkBoundary", "deviceLost", "deviceBack", "segmentStart", "segmentEnd",
                      "xrun", "periodic", "restart"]
StreamErrorKind = Literal["deviceLost", "deviceBack", "xrun", "ringOverflow", "formatMismatch", "io", "noSpace",
                          "other"]
DeviceAction = Literal["added", "removed"]

STATUS_REQUEST = "streamStatusRequest"  # no value; answered with STATUS_REPLY
STATUS_REPLY = "streamStatusReply"  # a list of StreamState: every stream chaosgarden knows, or the one it stopped
DEVICE_EVENT = "deviceEvent"  # a DeviceNotice as hootenanny broadcasts it (on `device.added` / `device.removed`)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockSnapshot:
    """One reading of every clock at one stream sample; the sample is the authority."""

    sample: int
    monotonic_ns: int  # CLOCK_MONOTONIC
    realtime_ns: int  # CLOCK_REALTIME
    midi_ticks: int = -1  # -1: no MIDI clock running
    reason: ClockReason

    def to_wire(self) -> dict[str, Any]:
        return {"samplePosition": self.sample, "monotonicNs": self.monotonic_ns, "realtimeNs": self.realtime_ns,
                "midiTicks": self.midi_ticks, "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ClockSnapshot:
        return cls(sample=wire["samplePosition"], monotonic_ns=wire["monotonicNs"], realtime_ns=wire["realtimeNs"],
                   midi_ticks=wire["midiTicks"], reason=wire["reason"])


# What a message that carries no clock decodes to: Cap'n Proto's defaults for an unset struct.
UNSET_CLOCK = ClockSnapshot(sample=0, monotonic_ns=0, realtime_ns=0, midi_ticks=0, reason="start")


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadPosition(WireMessage):
    """How far a stream is readable: broadcast now and then on `stream.head`."""

    KIND: ClassVar[str] = "streamHeadPosition"

    stream_uri: str
    sample: int  # samples below this are safe to read
    byte_position: int  # bytes of the current chunk below the head
    monotonic_ns: int  # 0 before the capture thread's first reading: then no clock comes with it
    realtime_ns: int
    chunk_path: str  # the chunk being written; "" when none is open
    chunk_first_sample: int

    def to_wire(self) -> dict[str, Any]:
        return {"streamUri": self.stream_uri, "samplePosition": self.sample, "bytePosition": self.byte_position,
                "monotonicNs": self.monotonic_ns, "realtimeNs": self.realtime_ns, "chunkPath": self.chunk_path,
                "chunkFirstSample": self.chunk_first_sample}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> HeadPosition:
        return cls(stream_uri=wire["streamUri"], sample=wire["samplePosition"], byte_position=wire["bytePosition"],
                   monotonic_ns=wire["monotonicNs"], realtime_ns=wire["realtimeNs"], chunk_path=wire["chunkPath"],
                   chunk_first_sample=wire["chunkFirstSample"])


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkFull(WireMessage):
    """A chunk chaosgarden filled (or the last one, at a stop): hootenanny seals it, then says so (ChunkSealed).

    A final one with an empty `path` only tells that the stream stopped, and its clock.
    """

    KIND: ClassVar[str] = "streamChunkFull"

    stream_uri: str
    path: str  # the staging file; in hootenanny's `stream.sealed` rebroadcast, the sealed digest
    bytes_written: int
    samples_written: int
    first_sample: int
    clock: ClockSnapshot  # at the chunk's end
    final: bool = False  # the stream stopped; this is its last chunk

    def to_wire(self) -> dict[str, Any]:
        return {"streamUri": self.stream_uri, "path": self.path, "bytesWritten": self.bytes_written,
                "samplesWritten": self.samples_written, "firstSample": self.first_sample,
                "clock": self.clock.to_wire(), "final": self.final}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ChunkFull:
        return cls(stream_uri=wire["streamUri"], path=wire["path"], bytes_written=wire["bytesWritten"],
                   samples_written=wire["samplesWritten"], first_sample=wire["firstSample"],
                   clock=ClockSnapshot.from_wire(wire["clock"]), final=wire["final"])


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamError(WireMessage):
    """Something went wrong with a stream (or came right again: `deviceBack`); broadcast on `stream.error`."""

    KIND: ClassVar[str] = "streamError"

    stream_uri: str
    error: str
    recoverable: bool
    kind: StreamErrorKind
    clock: ClockSnapshot = UNSET_CLOCK
    lost_samples: int = 0  # filled with silence or dropped, as `error` says
    xruns: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"streamUri": self.stream_uri, "error": self.error, "recoverable": self.recoverable,
                "kind": self.kind, "clock": self.clock.to_wire(), "lostSamples": self.lost_samples,
                "xruns": self.xruns}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StreamError:
        return cls(stream_uri=wire["streamUri"], error=wire["error"], recoverable=wire["recoverable"],
                   kind=wire["kind"], clock=ClockSnapshot.from_wire(wire["clock"]),
                   lost_samples=wire["lostSamples"], xruns=wire["xruns"])


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStart(WireMessage):
    """Start recording `definition` into the chunk files hootenanny hands over."""

    KIND: ClassVar[str] = "streamStart"

    uri: str
    definition: StreamDefinition
    chunk_path: str
    spare_paths: tuple[str, ...]
    start_sample: int  # where this stream's samples continue
    # CLOCK_REALTIME at start_sample after a gap (0: none); the first period is laid where its own
    # timestamp says, silence before it.
    start_realtime_ns: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"uri": self.uri, "definition": self.definition.to_wire(), "chunkPath": self.chunk_path,
                "sparePaths": list(self.spare_paths), "startSample": self.start_sample,
                "startRealtimeNs": self.start_realtime_ns}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StreamStart:
        """Raises DefinitionError when the definition breaks a rule (chaosgarden refuses it as a bad request)."""
        return cls(uri=wire["uri"], definition=StreamDefinition.from_wire(wire["definition"]),
                   chunk_path=wire["chunkPath"], spare_paths=tuple(wire["sparePaths"]),
                   start_sample=wire["startSample"], start_realtime_ns=wire["startRealtimeNs"])


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchChunk(WireMessage):
    """One more spare chunk for a recording stream."""

    KIND: ClassVar[str] = "streamSwitchChunk"

    uri: str
    new_chunk_path: str

    def to_wire(self) -> dict[str, Any]:
        return {"uri": self.uri, "newChunkPath": self.new_chunk_path}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SwitchChunk:
        return cls(uri=wire["uri"], new_chunk_path=wire["newChunkPath"])


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkSealed(WireMessage):
    """hootenanny sealed a chunk chaosgarden reported full; chaosgarden forgets it."""

    KIND: ClassVar[str] = "streamChunkSealed"

    uri: str
    path: str

    def to_wire(self) -> dict[str, Any]:
        return {"uri": self.uri, "path": self.path}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ChunkSealed:
        return cls(uri=wire["uri"], path=wire["path"])


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStop(WireMessage):
    """Stop recording; answered with the stream's StreamState (STATUS_REPLY)."""

    KIND: ClassVar[str] = "streamStop"

    uri: str

    def to_wire(self) -> dict[str, Any]:
        return {"uri": self.uri}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StreamStop:
        return cls(uri=wire["uri"])


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamState(WireMessage):
    """What chaosgarden knows of one stream, for a control plane that (re)joins."""

    uri: str
    running: bool
    head: HeadPosition
    unacknowledged: tuple[ChunkFull, ...]  # reported full, not yet sealed
    spares_left: int
    ring_samples: int  # captured, held in RAM, not yet in a chunk file
    dropped_samples: int  # lost because the RAM ring was full
    xruns: int
    device_connected: bool
    last_error: str
    clocks: tuple[ClockSnapshot, ...]
    spare_paths: tuple[str, ...]  # prepared, not yet written

    def to_wire(self) -> dict[str, Any]:
        return {
            "uri": self.uri, "running": self.running, "head": self.head.to_wire(),
            "unacknowledged": [f.to_wire() for f in self.unacknowledged], "sparesLeft": self.spares_left,
            "ringFrames": self.ring_samples, "droppedFrames": self.dropped_samples, "xruns": self.xruns,
            "deviceConnected": self.device_connected, "lastError": self.last_error,
            "clocks": [c.to_wire() for c in self.clocks], "sparePaths": list(self.spare_paths),
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StreamState:
        return cls(
            uri=wire["uri"], running=wire["running"], head=HeadPosition.from_wire(wire["head"]),
            unacknowledged=tuple(ChunkFull.from_wire(f) for f in wire["unacknowledged"]),
            spares_left=wire["sparesLeft"], ring_samples=wire["ringFrames"], dropped_samples=wire["droppedFrames"],
            xruns=wire["xruns"], device_connected=wire["deviceConnected"], last_error=wire["lastError"],
            clocks=tuple(ClockSnapshot.from_wire(c) for c in wire["clocks"]), spare_paths=tuple(wire["sparePaths"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceNotice(WireMessage):
    """udev news of a sound device (broadcast.capnp DeviceEvent), which chaosgarden takes as `deviceNotice`."""

    KIND: ClassVar[str] = "deviceNotice"

    device_id: str  # stable name, e.g. "ES9" or "midi-ES9-0"
    action: DeviceAction
    kind: StreamKind
    alsa_name: str  # hw:CARD=ES9,DEV=0 or /dev/snd/midiC1D0
    dev_path: str  # udev DEVPATH

    def to_wire(self) -> dict[str, Any]:
        return {"deviceId": self.device_id, "action": self.action, "kind": self.kind.value,
                "alsaName": self.alsa_name, "devPath": self.dev_path}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> DeviceNotice:
        return cls(device_id=wire["deviceId"], action=wire["action"], kind=StreamKind(wire["kind"]),
                   alsa_name=wire["alsaName"], dev_path=wire["devPath"])


StreamCommand = StreamStart | SwitchChunk | StreamStop | ChunkSealed
StreamEvent = HeadPosition | ChunkFull | StreamError


def _states(wire: list[dict[str, Any]]) -> list[StreamState]:
    return [StreamState.from_wire(s) for s in wire]


FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    HeadPosition.KIND: HeadPosition.from_wire,
    ChunkFull.KIND: ChunkFull.from_wire,
    StreamError.KIND: StreamError.from_wire,
    StreamStart.KIND: StreamStart.from_wire,
    SwitchChunk.KIND: SwitchChunk.from_wire,
    ChunkSealed.KIND: ChunkSealed.from_wire,
    StreamStop.KIND: StreamStop.from_wire,
    DeviceNotice.KIND: DeviceNotice.from_wire,
    DEVICE_EVENT: DeviceNotice.from_wire,
    STATUS_REPLY: _states,
}


def typed_value(body: Body) -> Any:
    """`body`'s value as its type when it is one of these messages (a list of StreamState for a status reply);
    any other member's value as the codec decoded it."""
    convert = FROM_WIRE.get(body.kind)
    return body.value if convert is None else convert(body.value)


def states_in(reply: Body) -> list[StreamState]:
    """The stream states a reply carries: a stop's or a status request's; none in an ack."""
    return _states(reply.value) if reply.kind == STATUS_REPLY else []


def status_reply(states: list[StreamState]) -> Body:
    return Body(STATUS_REPLY, states)
