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
from appliance.proto.stream_definition import StreamKind
from appliance.services.service_error import ServiceError
from appliance.services.slicing.audio_encoding import Encoding, FileFormat, TargetFormat
from appliance.services.slicing.slicer import Progress
from appliance.services.slicing.slices import Slicer, chosen_channels

EXTENSIONS = {"audio/wav": ".wav", "audio/flac": ".flac", "audio/midi": ".mid",
              "application/vnd.studio.virtual-slice+json": ".json"}
PROGRESS_STEPS = 1000  # per file: the export's progress counts each file's frames in thousandths


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionArgs(_Args):
    session: str = Field(description="a session id from session_create")


class SessionExportArgs(_Args):
    session: str
    segment: int | None = Field(None, ge=1, description="one segment, or the whole session when omitted")
    output: Literal["materialize", "virtual"] = "materialize"
    channels: list[int] | None = Field(None, description="audio streams: the channel indexes to keep, e.g. [0, 3]; "
                                                         "all when omitted (MIDI streams are exported whole)")
    stems: bool = Field(False, description="audio streams: one mono file per channel (of `channels`, or all)")
    format: FileFormat = Field("wav", description="audio file format: 'wav' (RF64 past 4 GiB) or 'flac'")
    sample_format: TargetFormat | None = Field(None, description="audio samples: as recorded when omitted, or "
                                                                 "'s16' (TPDF-dithered), 's24' or 'f32'")


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

    async def session_export(args: SessionExportArgs, progress: Progress | None = None) -> ToolOutput:
        status = sessions.status(args.session)
        ref = {"session": args.session, "segment": args.segment}
        if args.stems and args.output != "materialize":
            raise ServiceError("badRequest", "stems: a stem is a file of its own; use output 'materialize'")
        cuts = [(uri, picked) for uri in status.streams for picked in _cuts(slicer, uri, args)]
        files = []
        for number, (uri, picked) in enumerate(cuts):
            await sessions.wait_readable(args.session, args.segment, uri)
            result = await slicer.slice(uri, {"session_start": ref}, {"session_end": ref}, args.output,
                                        ["session", args.session], _share(progress, number, len(cuts)), picked,
                                        Encoding(args.format, args.sample_format) if picked is not None else Encoding())
            files.append(ExportedFile(stream=uri, channels=picked, name=_file_name(uri, picked, args, result.mime,
                                                                                 slicer.streams.channel_names(uri)),
                                      **result.model_dump()))
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
        Tool("session_export", "Per stream, the whole session or one segment as files (artifacts): audio as WAV "
             "or FLAC, in the recorded or another sample format, some channels or one stem per channel; MIDI as a "
             "Standard MIDI File. Reports progress.",
             SessionExportArgs, SessionExport, session_export, reports_progress=True),
    ):
        registry.add(tool)


def _cuts(slicer: Slicer, uri: str, args: SessionExportArgs) -> list[list[int] | None]:
    """The files one stream becomes: its channel picks (None: a MIDI stream, or every channel as recorded)."""
    definition = slicer.streams.recorder(uri).definition
    if definition.kind is StreamKind.MIDI:
        return [None]
    picked = chosen_channels(args.channels, definition.channels, uri)
    if args.stems:
        return [[channel] for channel in picked]
    return [picked] if args.channels is not None or args.format != "wav" or args.sample_format else [None]


def _share(progress: Progress | None, number: int, count: int) -> Progress | None:
    """File `number` of `count` as its share of the whole export's progress."""
    if progress is None:
        return None
    report = progress

    def share(done: int, total: int) -> None:
        report(number * PROGRESS_STEPS + done * PROGRESS_STEPS // max(total, 1), count * PROGRESS_STEPS)

    return share


def _file_name(uri: str, picked: list[int] | None, args: SessionExportArgs, mime: str,
               names: dict[int, str]) -> str:
    """'eurorack-main.wav', or for a stem 'eurorack-main-kick.flac' (its channel's name, else 'ch3')."""
    stem = uri.removeprefix("stream://").replace("/", "-")
    if args.stems and picked is not None:
        stem += "-" + names.get(picked[0], f"ch{picked[0]}")
    return stem + EXTENSIONS.get(mime, "")
