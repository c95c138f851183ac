"""What the playback requests answer, as the results the transport and timeline tools return.

The transport state and an audition's start are chaosgarden's own answers
(TransportStateChanged and AuditionReply in garden.capnp), so clients have
always read them under the Cap'n Proto names: those results keep the
camelCase JSON keys, made from the snake_case fields rather than spelled
out here. Regions and markers are shown in hootenanny's own words.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from appliance.proto import timeline_messages as timeline_wire
from appliance.proto import transport_messages as transport_wire
from appliance.proto.audition_messages import AuditionReply
from appliance.services.results import ResultModel


class _CapnpNamed(ResultModel):
    """A result whose JSON keys are the camelCase Cap'n Proto names of its fields."""

    model_config = ConfigDict(alias_generator=to_camel, serialize_by_alias=True, validate_by_name=True)


class OutputStatus(ResultModel):
    kind: str = Field(description="audio (the playback device) or midi (a raw MIDI port)")
    device: str = Field(description="the ALSA PCM name or rawmidi path")
    error: str = Field(description="why it cannot be opened or written; empty: it plays")


class LinkStatus(ResultModel):
    mode: str = Field(description="off, follow (take the Link session's tempo) or lead (impose the box's)")
    peers: int
    error: str = Field(description="why Link is off although asked for; empty otherwise")


class TransportState(_CapnpNamed):
    state: Literal["stopped", "playing", "paused"]
    beat: float
    tempo_bpm: float
    sample_position: int
    monotonic_ns: int
    realtime_ns: int
    outputs: list[OutputStatus]
    link: LinkStatus

    @classmethod
    def of(cls, state: transport_wire.TransportStateChanged) -> TransportState:
        return cls(state=state.state, beat=state.beat, tempo_bpm=state.tempo_bpm, sample_position=state.sample,
                   monotonic_ns=state.monotonic_ns, realtime_ns=state.realtime_ns,
                   outputs=[OutputStatus(kind=o.kind, device=o.device, error=o.error) for o in state.outputs],
                   link=LinkStatus(mode=state.link.mode, peers=state.link.peers, error=state.link.error))


class Region(ResultModel):
    region_id: str
    artifact_id: str
    at: float = Field(description="the beat it starts at")
    duration: float | None = Field(description="beats it plays for; null: all of it")
    gain: float
    mime: str

    @classmethod
    def of(cls, region: timeline_wire.TimelineRegion) -> Region:
        """A placed region; the gain as set, not the nearest Float32 the wire carries."""
        return cls(region_id=region.region_id, artifact_id=region.artifact_id, at=region.at_beat,
                   duration=region.duration_beats or None, gain=round(region.gain, 6), mime=region.mime)


class Marker(ResultModel):
    name: str
    beat: float
    metadata: dict[str, Any]

    @classmethod
    def of(cls, marker: transport_wire.Marker) -> Marker:
        return cls(name=marker.name, beat=marker.beat, metadata=json.loads(marker.metadata_json or "{}"))


class TimelineContents(ResultModel):
    regions: list[Region]
    markers: list[Marker]

    @classmethod
    def of(cls, contents: timeline_wire.TimelineContents) -> TimelineContents:
        return cls(regions=[Region.of(r) for r in contents.regions], markers=[Marker.of(m) for m in contents.markers])


class AuditionStarted(_CapnpNamed):
    artifact_id: str = Field(alias="artifact_id")  # hootenanny's name for the artifact, not chaosgarden's
    duration_seconds: float
    start_sample: int
    start_monotonic_ns: int
    start_realtime_ns: int

    @classmethod
    def of(cls, artifact_id: str, reply: AuditionReply) -> AuditionStarted:
        return cls(artifact_id=artifact_id, duration_seconds=reply.duration_seconds, start_sample=reply.start_sample,
                   start_monotonic_ns=reply.start_monotonic_ns, start_realtime_ns=reply.start_realtime_ns)
