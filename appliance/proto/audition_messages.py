"""Auditions as typed values: content chaosgarden plays now, outside the timeline, and when it sounds.

`garden.capnp` defines them: an `audition` request is answered with an
`auditionReply` saying when its first sample is heard and for how long it
plays (a request/response session times its recording from it). As in
`stream_messages`, this module alone knows the camelCase names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from appliance.proto.codec import WireMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class Audition(WireMessage):
    """Play a sealed CAS file now."""

    KIND: ClassVar[str] = "audition"

    content_path: str
    mime: str
    duration_seconds: float = 0.0  # 0: all of it
    gain: float = 1.0
    midi_out: str = ""  # raw MIDI port for MIDI content; empty: chaosgarden's configured rt.midi_out

    def to_wire(self) -> dict[str, Any]:
        return {"contentPath": self.content_path, "mime": self.mime, "durationSeconds": self.duration_seconds,
                "gain": self.gain, "midiOut": self.midi_out}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Audition:
        return cls(content_path=wire["contentPath"], mime=wire["mime"], duration_seconds=wire["durationSeconds"],
                   gain=wire["gain"], midi_out=wire["midiOut"])


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditionReply(WireMessage):
    """When an audition sounds: its first sample and the times that sample is heard."""

    KIND: ClassVar[str] = "auditionReply"

    duration_seconds: float
    start_sample: int
    start_monotonic_ns: int
    start_realtime_ns: int

    def to_wire(self) -> dict[str, Any]:
        return {"durationSeconds": self.duration_seconds, "startSample": self.start_sample,
                "startMonotonicNs": self.start_monotonic_ns, "startRealtimeNs": self.start_realtime_ns}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> AuditionReply:
        return cls(duration_seconds=wire["durationSeconds"], start_sample=wire["startSample"],
                   start_monotonic_ns=wire["startMonotonicNs"], start_realtime_ns=wire["startRealtimeNs"])


FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    Audition.KIND: Audition.from_wire,
    AuditionReply.KIND: AuditionReply.from_wire,
}
