"""The beat clock's messages between chaosgarden and hootenanny (and on to vibeweaver), as typed values.

`garden.capnp` defines them on the wire: a `transportCommand` is answered
with the `TransportStateChanged` it caused (a `transportReply`), which is
also broadcast on `transport.changed`; ticks go out on `beat.tick`, markers
the transport passes on `marker.reached`, and each output's trouble on
`transport.output`. A `marker` request sets a marker. As in
`stream_messages`, this module alone knows their camelCase names, and the
types are frozen dataclasses: ticks are published many times a second, and a
decoded body was already checked against its schema.

Words: a *sample* is a position on chaosgarden's sample clock (`samplePosition`
on the wire, as the stream messages say).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

from appliance.proto.codec import WireMessage

PlayState = Literal["stopped", "playing", "paused"]  # garden.capnp TransportState
TransportVerb = Literal["play", "pause", "stop", "seek", "tempo", "status"]

TRANSPORT_REPLY = "transportReply"  # a TransportStateChanged, answering a TransportCommand
MARKER_REACHED = "markerReached"  # a Marker the transport passed, broadcast with the beat it was set at


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportCommand(WireMessage):
    """One transport verb; `status` changes nothing and is answered like the others."""

    KIND: ClassVar[str] = "transportCommand"

    verb: TransportVerb
    argument: float | None = None  # the beat for `seek`, beats per minute for `tempo`; None for the others

    def to_wire(self) -> dict[str, Any]:
        return {self.verb: self.argument}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TransportCommand:
        ((verb, argument),) = wire.items()  # a union: exactly one member is set, named by the schema
        return cls(verb=cast(TransportVerb, verb), argument=argument)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputStatus(WireMessage):
    """One output chaosgarden plays timeline content to, and why it cannot (empty `error`: it plays)."""

    KIND: ClassVar[str] = "outputStatus"

    kind: str  # "audio" (rt.playback_device) or "midi" (a raw MIDI port)
    device: str  # the ALSA PCM name or rawmidi path
    error: str

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "device": self.device, "error": self.error}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> OutputStatus:
        return cls(kind=wire["kind"], device=wire["device"], error=wire["error"])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkStatus:
    """Ableton Link as chaosgarden runs it (rt.link)."""

    mode: str  # "off", "follow" or "lead"; empty in a state saved before Link was reported
    peers: int  # other Link apps in the session
    error: str  # why Link is off although asked for; empty otherwise

    def to_wire(self) -> dict[str, Any]:
        return {"mode": self.mode, "peers": self.peers, "error": self.error}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> LinkStatus:
        return cls(mode=wire["mode"], peers=wire["peers"], error=wire["error"])


# What a state that carries no Link report decodes to: Cap'n Proto's defaults for an unset struct.
UNSET_LINK = LinkStatus(mode="", peers=0, error="")


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportStateChanged(WireMessage):
    """The transport at one sample: broadcast when a command changes it, and the answer to every command."""

    KIND: ClassVar[str] = "transportStateChanged"

    state: PlayState
    beat: float
    tempo_bpm: float
    sample: int
    monotonic_ns: int  # CLOCK_MONOTONIC at `sample`
    realtime_ns: int  # CLOCK_REALTIME at `sample`
    outputs: tuple[OutputStatus, ...] = ()
    link: LinkStatus = UNSET_LINK

    def to_wire(self) -> dict[str, Any]:
        return {"state": self.state, "beat": self.beat, "tempoBpm": self.tempo_bpm, "samplePosition": self.sample,
                "monotonicNs": self.monotonic_ns, "realtimeNs": self.realtime_ns,
                "outputs": [o.to_wire() for o in self.outputs], "link": self.link.to_wire()}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TransportStateChanged:
        return cls(state=wire["state"], beat=wire["beat"], tempo_bpm=wire["tempoBpm"], sample=wire["samplePosition"],
                   monotonic_ns=wire["monotonicNs"], realtime_ns=wire["realtimeNs"],
                   outputs=tuple(OutputStatus.from_wire(o) for o in wire["outputs"]),
                   link=LinkStatus.from_wire(wire["link"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class BeatTick(WireMessage):
    """One grid point of the beat clock, with the ideal time and sample it falls on."""

    KIND: ClassVar[str] = "beatTick"

    beat: float
    tempo_bpm: float
    sample: int
    monotonic_ns: int
    realtime_ns: int

    def to_wire(self) -> dict[str, Any]:
        return {"beat": self.beat, "tempoBpm": self.tempo_bpm, "samplePosition": self.sample,
                "monotonicNs": self.monotonic_ns, "realtimeNs": self.realtime_ns}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> BeatTick:
        return cls(beat=wire["beat"], tempo_bpm=wire["tempoBpm"], sample=wire["samplePosition"],
                   monotonic_ns=wire["monotonicNs"], realtime_ns=wire["realtimeNs"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker(WireMessage):
    """A named beat: set by a `marker` request (a new beat for a name replaces the old), and broadcast as
    MARKER_REACHED when the transport passes it. The schema's Marker and MarkerReached hold the same fields."""

    KIND: ClassVar[str] = "marker"

    name: str
    beat: float
    metadata_json: str  # handed back as it was given; empty on the wire means "{}"

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "beat": self.beat, "metadataJson": self.metadata_json}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Marker:
        return cls(name=wire["name"], beat=wire["beat"], metadata_json=wire["metadataJson"])


FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    TransportCommand.KIND: TransportCommand.from_wire,
    TRANSPORT_REPLY: TransportStateChanged.from_wire,
    TransportStateChanged.KIND: TransportStateChanged.from_wire,
    OutputStatus.KIND: OutputStatus.from_wire,
    BeatTick.KIND: BeatTick.from_wire,
    Marker.KIND: Marker.from_wire,
    MARKER_REACHED: Marker.from_wire,
}
