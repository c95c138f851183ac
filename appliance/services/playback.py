"""Playback, as chaosgarden keeps it and hootenanny asks for it: the transport of the beat clock, the timeline
(regions and markers placed on beats) and auditions played at once.

hootenanny checks what it can (an artifact is playable, a region exists),
turns artifact ids into sealed CAS paths, and forwards each call as one
request to chaosgarden; a failure of chaosgarden becomes a ServiceError that
says the beat clock is away. Each call answers with the result its tool
returns (playback_results).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from appliance.proto.audition_messages import Audition, AuditionReply
from appliance.proto.channel import RequestError
from appliance.proto.codec import Body, WireMessage
from appliance.proto.timeline_messages import TIMELINE_LIST, TIMELINE_REMOVE, TimelineContents, TimelineRegion
from appliance.proto.transport_messages import Marker, TransportCommand, TransportStateChanged, TransportVerb
from appliance.services import playback_results as results
from appliance.services.capture.garden_link import GardenLink
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slicer import MIME_MIDI, MIME_WAV
from appliance.services.store.artifacts import ArtifactStore

PLAYABLE = (MIME_WAV, MIME_MIDI)
COMMAND_TIMEOUT_S = 2.0  # transport commands are instant; an agent should not wait long for a dead peer
PREPARE_TIMEOUT_S = 60.0  # decoding and resampling a long WAV happens before chaosgarden answers


class Playback:
    """The requests behind the tools; each failure of chaosgarden becomes a ServiceError."""

    def __init__(self, garden: GardenLink, artifacts: ArtifactStore) -> None:
        self.garden, self.artifacts = garden, artifacts

    async def _request(self, kind: str, value: WireMessage | str | None = None,
                       timeout: float = COMMAND_TIMEOUT_S) -> Body:
        try:
            return await self.garden.request(kind, value, timeout=timeout, retries=1)
        except RequestError as exc:
            if exc.code == "unavailable" or exc.code == "timeout":
                raise ServiceError("unavailable", f"chaosgarden (the beat clock) is unavailable: {exc.message}") from None
            raise ServiceError(exc.code, exc.message) from None

    async def transport(self, verb: TransportVerb, argument: float | None = None) -> results.TransportState:
        reply = await self._request(TransportCommand.KIND, TransportCommand(verb=verb, argument=argument))
        return results.TransportState.of(TransportStateChanged.from_wire(reply.value))

    def playable(self, artifact_id: str) -> tuple[str, str]:
        """The CAS path and MIME type of an artifact chaosgarden can play."""
        artifact, path = self.artifacts.content_path(artifact_id)
        if artifact.mime not in PLAYABLE:
            raise ServiceError("badRequest", f"artifact_id: {artifact_id} is {artifact.mime}; playable are "
                                             f"{', '.join(PLAYABLE)}")
        return str(path), artifact.mime

    async def schedule(self, artifact_id: str, at: float, duration: float | None, gain: float) -> results.Region:
        """Place an artifact on the timeline; chaosgarden decodes it before it answers."""
        path, mime = self.playable(artifact_id)
        region_id = "reg-" + secrets.token_hex(6)
        await self._request(TimelineRegion.KIND, TimelineRegion(
            region_id=region_id, content_path=path, mime=mime, at_beat=at, duration_beats=duration or 0.0, gain=gain,
            artifact_id=artifact_id), timeout=PREPARE_TIMEOUT_S)
        return results.Region(region_id=region_id, artifact_id=artifact_id, at=at, duration=duration, gain=gain,
                              mime=mime)

    async def remove(self, region_id: str) -> results.Region:
        try:
            reply = await self._request(TIMELINE_REMOVE, region_id)
        except ServiceError as exc:
            if exc.code != "notFound":
                raise
            raise ServiceError("notFound", f"region_id: {exc.message} (timeline_list shows the timeline)") from None
        return results.Region.of(TimelineRegion.from_wire(reply.value))

    async def contents(self) -> results.TimelineContents:
        reply = await self._request(TIMELINE_LIST)
        return results.TimelineContents.of(TimelineContents.from_wire(reply.value))

    async def audition(self, artifact_id: str, duration: float | None, gain: float) -> results.AuditionStarted:
        """Play an artifact now, outside the timeline; chaosgarden answers when and for how long."""
        path, mime = self.playable(artifact_id)
        reply = await self.play_now(Audition(content_path=path, mime=mime, duration_seconds=duration or 0.0,
                                             gain=gain), timeout=PREPARE_TIMEOUT_S)
        return results.AuditionStarted.of(artifact_id, reply)

    async def play_now(self, audition: Audition, timeout: float) -> AuditionReply:
        """Play content chaosgarden can read now, outside the timeline (a request/response session's MIDI)."""
        reply = await self._request(Audition.KIND, audition, timeout=timeout)
        return AuditionReply.from_wire(reply.value)

    async def marker(self, name: str, beat: float, metadata: dict[str, Any]) -> results.Marker:
        marker = Marker(name=name, beat=beat, metadata_json=json.dumps(metadata))
        await self._request(Marker.KIND, marker)
        return results.Marker(name=name, beat=beat, metadata=metadata)
