"""The box's tools as vibeweaver calls them: tool calls to hootenanny over the worker socket.

Every action the kernel takes on the box (tempo, transport, timeline,
markers, sample jobs, artifacts) is a `toolCall` request answered by a
`toolResult`. Names and arguments follow hootenanny's MCP tool table, plus
the internal tools hootenanny serves to its workers: `timeline_audition`,
`timeline_marker`, `job_sample` and `artifact_register`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.proto.channel import RequestError
from appliance.proto.codec import Body
from appliance.proto.tool_messages import ToolCall, ToolResult

Request = Callable[[str, Any], Awaitable[Body]]


class BoxError(Exception):
    """hootenanny refused a tool call, or could not be reached; the message says which and why."""


class BoxClient:
    """Typed wrappers over hootenanny's tools."""

    def __init__(self, request: Request) -> None:
        self._request = request

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call `tool` and return its structured result; raise BoxError on a tool error."""
        structured, _ = await self._call(tool, arguments)
        return structured

    async def _call(self, tool: str, arguments: dict[str, Any] | None) -> tuple[dict[str, Any], tuple[bytes, ...]]:
        """The structured result and the PNG pictures of a call of `tool`; BoxError on a tool error."""
        try:
            reply = await self._request(ToolCall.KIND, ToolCall(name=tool, arguments_json=json.dumps(arguments or {})))
        except RequestError as exc:
            raise BoxError(f"{tool}: hootenanny did not answer ({exc.code}: {exc.message})") from None
        if reply.kind != ToolResult.KIND:
            raise BoxError(f"{tool}: hootenanny answered with {reply.kind}, not a tool result")
        result = ToolResult.from_wire(reply.value)
        if result.is_error:
            raise BoxError(f"{tool}: {result.text}")
        return (json.loads(result.structured_json) if result.structured_json else {}), result.images

    async def analyze(self, arguments: dict[str, Any]) -> tuple[dict[str, Any], tuple[bytes, ...]]:
        """stream_analyze's figures, and its picture (PNG) when `arguments` ask for one."""
        return await self._call("stream_analyze", arguments)

    async def tempo(self, bpm: float) -> dict[str, Any]:
        return await self.call("transport_tempo", {"bpm": bpm})

    async def play(self) -> dict[str, Any]:
        return await self.call("transport_play")

    async def pause(self) -> dict[str, Any]:
        return await self.call("transport_pause")

    async def stop(self) -> dict[str, Any]:
        return await self.call("transport_stop")

    async def seek(self, beat: float) -> dict[str, Any]:
        return await self.call("transport_seek", {"beat": beat})

    async def schedule(self, artifact_id: str, at: float, duration: float | None, gain: float) -> dict[str, Any]:
        arguments: dict[str, Any] = {"artifact_id": artifact_id, "at": at, "gain": gain}
        if duration is not None:
            arguments["duration"] = duration
        return await self.call("timeline_schedule", arguments)

    async def unschedule(self, region_id: str) -> dict[str, Any]:
        return await self.call("timeline_remove", {"region_id": region_id})

    async def timeline(self) -> dict[str, Any]:
        """The box's regions and markers, each in beat order."""
        return await self.call("timeline_list")

    async def audition(self, artifact_id: str, duration: float | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {"artifact_id": artifact_id}
        if duration is not None:
            arguments["duration"] = duration
        return await self.call("timeline_audition", arguments)

    async def marker(self, name: str, beat: float, metadata: dict[str, Any]) -> dict[str, Any]:
        return await self.call("timeline_marker", {"name": name, "beat": beat, "metadata": metadata})

    async def start_sample_job(self, space: str, prompt: str, inference: dict[str, Any], tags: list[str]) -> str:
        """Start a `capture` or `pattern` job on the box; its progress arrives as `job.` broadcasts."""
        result = await self.call("job_sample", {"space": space, "prompt": prompt, "inference": inference,
                                                "tags": tags})
        job_id = result.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise BoxError(f"job_sample: hootenanny returned no job_id ({result})")
        return job_id

    async def artifact(self, artifact_id: str) -> dict[str, Any]:
        return await self.call("artifact_get", {"artifact_id": artifact_id})

    async def register_artifact(self, content_hash: str, mime: str, tags: list[str],
                                metadata: dict[str, Any]) -> str:
        """Make content already sealed in the CAS an artifact (output of an HTTP generator space)."""
        result = await self.call("artifact_register", {"content_hash": content_hash, "mime": mime, "tags": tags,
                                                       "metadata": metadata})
        artifact_id = result.get("artifact_id")
        if not isinstance(artifact_id, str) or not artifact_id:
            raise BoxError(f"artifact_register: hootenanny returned no artifact_id ({result})")
        return artifact_id
