"""The beat clock and timeline as chaosgarden keeps them, asked from hootenanny.

hootenanny checks what it can (an artifact is playable, a region exists),
turns artifact ids into sealed CAS paths, and forwards each call as one
request to chaosgarden; a failure of chaosgarden becomes a ServiceError that
says the beat clock is away.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from appliance.proto.channel import RequestError
from appliance.services.capture.garden_link import GardenLink
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slicer import MIME_MIDI, MIME_WAV
from appliance.services.store.artifacts import ArtifactStore

PLAYABLE = (MIME_WAV, MIME_MIDI)
COMMAND_TIMEOUT_S = 2.0  # transport commands are instant; an agent should not wait long for a dead peer
PREPARE_TIMEOUT_S = 60.0  # decoding and resampling a long WAV happens before chaosgarden answers


class GardenTimeline:
    """The requests behind the tools; each failure of chaosgarden becomes a ServiceError."""

    def __init__(self, garden: GardenLink, artifacts: ArtifactStore) -> None:
        self.garden, self.artifacts = garden, artifacts

    async def request(self, kind: str, value: Any = None, timeout: float = COMMAND_TIMEOUT_S) -> Any:
        try:
            reply = await self.garden.request(kind, value, timeout=timeout, retries=1)
        except RequestError as exc:
            if exc.code == "unavailable" or exc.code == "timeout":
                raise ServiceError("unavailable", f"chaosgarden (the beat clock) is unavailable: {exc.message}") from None
            raise ServiceError(exc.code, exc.message) from None
        return reply.value

    async def transport(self, verb: str, argument: float | None = None) -> dict[str, Any]:
        return await self.request("transportCommand", {verb: argument})

    def playable(self, artifact_id: str) -> tuple[str, str]:
        """The CAS path and MIME type of an artifact chaosgarden can play."""
        artifact, path = self.artifacts.content_path(artifact_id)
        if artifact.mime not in PLAYABLE:
            raise ServiceError("badRequest", f"artifact_id: {artifact_id} is {artifact.mime}; playable are "
                                             f"{', '.join(PLAYABLE)}")
        return str(path), artifact.mime

    async def schedule(self, artifact_id: str, at: float, duration: float | None, gain: float) -> dict[str, Any]:
        """Place an artifact on the timeline; chaosgarden decodes it before it answers."""
        path, mime = self.playable(artifact_id)
        region_id = "reg-" + secrets.token_hex(6)
        await self.request("timelineSchedule", {
            "id": region_id, "contentPath": path, "mime": mime, "atBeat": at, "durationBeats": duration or 0.0,
            "gain": gain, "artifactId": artifact_id}, timeout=PREPARE_TIMEOUT_S)
        return {"region_id": region_id, "artifact_id": artifact_id, "at": at, "duration": duration, "gain": gain,
                "mime": mime}

    async def remove(self, region_id: str) -> dict[str, Any]:
        try:
            return region_output(await self.request("timelineRemove", region_id))
        except ServiceError as exc:
            if exc.code != "notFound":
                raise
            raise ServiceError("notFound", f"region_id: {exc.message} (timeline_list shows the timeline)") from None

    async def contents(self) -> dict[str, Any]:
        contents = await self.request("timelineList")
        return {"regions": [region_output(r) for r in contents["regions"]],
                "markers": [{"name": m["name"], "beat": m["beat"], "metadata": json.loads(m["metadataJson"] or "{}")}
                            for m in contents["markers"]]}

    async def audition(self, artifact_id: str, duration: float | None, gain: float, midi_out: str = ""
                       ) -> dict[str, Any]:
        """Play an artifact now, outside the timeline; chaosgarden answers when and for how long."""
        path, mime = self.playable(artifact_id)
        return await self.request("audition", {"contentPath": path, "mime": mime, "durationSeconds": duration or 0.0,
                                               "gain": gain, "midiOut": midi_out}, timeout=PREPARE_TIMEOUT_S)

    async def marker(self, name: str, beat: float, metadata: dict[str, Any]) -> None:
        await self.request("marker", {"name": name, "beat": beat, "metadataJson": json.dumps(metadata)})


def region_output(region: dict[str, Any]) -> dict[str, Any]:
    """A TimelineRegion as the tools show it (the same fields timeline_schedule returns)."""
    return {"region_id": region["id"], "artifact_id": region["artifactId"], "at": region["atBeat"],
            "duration": region["durationBeats"] or None, "gain": round(region["gain"], 6), "mime": region["mime"]}
