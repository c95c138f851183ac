"""chaosgarden's timeline as typed values: regions placed and removed, the listing, and the file it is saved in.

`garden.capnp` defines them: hootenanny places a `TimelineRegion` with a
`timelineSchedule` request, takes one off with `timelineRemove` (a region id;
answered with the region as it was, `timelineRemoved`) and asks for
everything with `timelineList` (answered with `TimelineContents`).
chaosgarden saves the transport and the timeline as a `SavedTimeline`
(`TimelineSnapshot` here) after every change. As in `stream_messages`, this
module alone knows the camelCase names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from appliance.proto.codec import WireMessage
from appliance.proto.transport_messages import Marker, TransportStateChanged

TIMELINE_LIST = "timelineList"  # no value; answered with TimelineContents
TIMELINE_REMOVE = "timelineRemove"  # the value is a region id
TIMELINE_REMOVED = "timelineRemoved"  # the TimelineRegion a TIMELINE_REMOVE took off


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRegion(WireMessage):
    """Content placed at a beat; a region id placed again is replaced."""

    KIND: ClassVar[str] = "timelineSchedule"

    region_id: str
    content_path: str  # a sealed CAS file
    mime: str
    at_beat: float
    duration_beats: float  # 0: until the content ends
    gain: float  # Float32 on the wire
    artifact_id: str  # what the region plays, as hootenanny names it (for listings)

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.region_id, "contentPath": self.content_path, "mime": self.mime, "atBeat": self.at_beat,
                "durationBeats": self.duration_beats, "gain": self.gain, "artifactId": self.artifact_id}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TimelineRegion:
        return cls(region_id=wire["id"], content_path=wire["contentPath"], mime=wire["mime"], at_beat=wire["atBeat"],
                   duration_beats=wire["durationBeats"], gain=wire["gain"], artifact_id=wire["artifactId"])


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineContents(WireMessage):
    """Everything on the timeline, regions and markers each in beat order."""

    KIND: ClassVar[str] = "timelineContents"

    regions: tuple[TimelineRegion, ...]
    markers: tuple[Marker, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"regions": [r.to_wire() for r in self.regions], "markers": [m.to_wire() for m in self.markers]}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TimelineContents:
        return cls(regions=tuple(TimelineRegion.from_wire(r) for r in wire["regions"]),
                   markers=tuple(Marker.from_wire(m) for m in wire["markers"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineSnapshot:
    """What chaosgarden saves after every change (`SavedTimeline`, a file, not a message) and resumes from."""

    transport: TransportStateChanged  # as of the last transport command
    timeline: TimelineContents

    def to_wire(self) -> dict[str, Any]:
        return {"transport": self.transport.to_wire(), "timeline": self.timeline.to_wire()}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TimelineSnapshot:
        return cls(transport=TransportStateChanged.from_wire(wire["transport"]),
                   timeline=TimelineContents.from_wire(wire["timeline"]))


FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    TimelineRegion.KIND: TimelineRegion.from_wire,
    TIMELINE_REMOVED: TimelineRegion.from_wire,
    TimelineContents.KIND: TimelineContents.from_wire,
}
