"""The session tools: create, play, stop, status and export capture sessions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.agent.tools.capture import NoArgs
from appliance.services.sessions.sessions import (
    ExportedFile,
    SessionExport,
    SessionList,
    SessionService,
    SessionSpec,
    SessionStatus,
)
from appliance.services.slicing.slices import Slicer


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionArgs(_Args):
    session: str = Field(description="a session id from session_create")


class SessionExportArgs(_Args):
    session: str
    segment: int | None = Field(None, ge=1, description="one segment, or the whole session when omitted")
    output: Literal["materialize", "virtual"] = "materialize"


def add_session_tools(registry: ToolRegistry, sessions: SessionService, slicer: Slicer) -> None:
    async def session_create(spec: SessionSpec) -> ToolOutput:
        status = sessions.create(spec)
        return ToolOutput(status, f"{status.session} ({spec.mode}) over {', '.join(spec.streams)}")

    async def session_play(args: SessionArgs) -> ToolOutput:
        status = await sessions.play(args.session)
        return ToolOutput(status, f"{args.session}: segment {len(status.segments)} open")

    async def session_stop(args: SessionArgs) -> ToolOutput:
        status = await sessions.stop(args.session)
        return ToolOutput(status, f"{args.session} stopped; session artifact {status.artifact_id}")

    async def session_status(args: SessionArgs) -> ToolOutput:
        status = sessions.status(args.session)
        return ToolOutput(status, f"{args.session}: {status.status}, {len(status.segments)} segments")

    async def session_list(_args: NoArgs) -> ToolOutput:
        rows = sessions.every()
        return ToolOutput(SessionList(sessions=rows), ", ".join(f"{r.session} ({r.status})" for r in rows)
                          or "no sessions")

    async def session_export(args: SessionExportArgs) -> ToolOutput:
        status = sessions.status(args.session)
        ref = {"session": args.session, "segment": args.segment}
        files = []
        for uri in status.streams:
            await sessions.wait_readable(args.session, args.segment, uri)
            result = await slicer.slice(uri, {"session_start": ref}, {"session_end": ref}, args.output,
                                        ["session", args.session])
            files.append(ExportedFile(stream=uri, **result.model_dump()))
        what = f"segment {args.segment}" if args.segment else "whole session"
        return ToolOutput(SessionExport(session=args.session, segment=args.segment, files=files),
                          f"{args.session} {what}: " + ", ".join(f.artifact_id for f in files))

    for tool in (
        Tool("session_create", "Group streams into a capture session (passive, or request_response with "
             "midi_out and audio_in).", SessionSpec, SessionStatus, session_create),
        Tool("session_play", "Open a new segment now on every stream of the session (starting streams that "
             "are not recording).", SessionArgs, SessionStatus, session_play),
        Tool("session_stop", "Close the session: end the segment, seal everything, store the session artifact.",
             SessionArgs, SessionStatus, session_stop),
        Tool("session_status", "Segments, clock snapshots, streams and status of a session.", SessionArgs,
             SessionStatus, session_status, read_only=True, idempotent=True),
        Tool("session_list", "Every capture session, newest first, with its segments and status.", NoArgs,
             SessionList, session_list, read_only=True, idempotent=True),
        Tool("session_export", "Per stream, the whole session or one segment as files (artifacts).",
             SessionExportArgs, SessionExport, session_export),
    ):
        registry.add(tool)
