"""hootenanny's news of a new artifact, as a typed value.

`broadcast.capnp` defines `ArtifactCreated`, published on `artifact.created`
whenever the catalog gains an artifact (vibeweaver's `@on_artifact` rules
fire on it). As in `stream_messages`, this module alone knows its camelCase
names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from appliance.proto.codec import WireMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactCreated(WireMessage):
    KIND: ClassVar[str] = "artifactCreated"

    artifact_id: str
    content_hash: str  # empty: the artifact has no bytes of its own (a container)
    mime: str
    tags: tuple[str, ...]
    parent_id: str  # empty: none

    def to_wire(self) -> dict[str, Any]:
        return {"artifactId": self.artifact_id, "contentHash": self.content_hash, "mime": self.mime,
                "tags": list(self.tags), "parentId": self.parent_id}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ArtifactCreated:
        return cls(artifact_id=wire["artifactId"], content_hash=wire["contentHash"], mime=wire["mime"],
                   tags=tuple(wire["tags"]), parent_id=wire["parentId"])
