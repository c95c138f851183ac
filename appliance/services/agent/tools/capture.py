"""The capture tools: streams, artifacts and devices, as the agent sees them.

The artifact, slice and device results are the domain's own models, built by
the artifact store, the slicer and the device registry.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from appliance.proto.stream_definition import SampleFormat, StreamKind
from appliance.services.agent.registry import Download, Tool, ToolOutput, ToolRegistry
from appliance.services.capture.devices import DeviceList, DeviceRegistry
from appliance.services.capture.stream_status import StreamChannels, StreamCreated, StreamStatus
from appliance.services.capture.streams import StreamService
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slicer import MIME_VIRTUAL, Progress
from appliance.services.slicing.audio_encoding import Encoding, FileFormat, TargetFormat
from appliance.services.slicing.slices import SliceResult, Slicer, picture
from appliance.services.store.artifacts import ArtifactInfo, ArtifactList, ArtifactStore


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamCreateArgs(_Args):
    uri: str = Field(description="stream://<name>/<part>, e.g. stream://eurorack/main")
    device: str = Field(description="a device id from device_list, 'sim', an ALSA PCM name, or a rawmidi path")
    kind: StreamKind = StreamKind.AUDIO
    sample_rate: int = Field(48000, ge=8000, le=768000)
    channels: int = Field(2, ge=1, le=256)
    sample_format: SampleFormat = SampleFormat.S32
    chunk_samples: int = Field(131072, ge=256, le=1 << 30)
    channel_names: dict[int, str] | None = Field(None, description="names for channels by index, e.g. "
                                                                   "{\"0\": \"kick\", \"1\": \"bass\"}: "
                                                                   "session_export names stems after them")


class StreamUpdateArgs(_Args):
    uri: str = Field(description="a stream uri from stream_status")
    channel_names: dict[int, str] = Field(description="names for channels by index (merged with those it has; "
                                                      "\"\" forgets one), e.g. {\"3\": \"modular out\"}")


class StreamUriArgs(_Args):
    uri: str = Field(description="a stream uri from stream_status")


class StreamStatusArgs(_Args):
    uri: str | None = Field(None, description="one stream, or all when omitted")


class ArtifactGetArgs(_Args):
    artifact_id: str
    materialize: bool = Field(False, description="for a virtual slice: cut the audio/MIDI file it describes "
                                                 "and return that new artifact (its parent is the virtual one)")


class ArtifactListArgs(_Args):
    tag: str | None = None
    limit: int = Field(50, ge=1, le=500)


class NoArgs(_Args):
    pass


TIME_POINT_HELP = ('"now" (the moment the request arrives; the end of the recording if it stopped before), '
                   '{"seconds_ago": 30}, {"wall_time": "2026-11-21T10:00:00Z"}, {"sample": 123456}, '
                   '{"session_start": {"session": id, "segment": n}} or {"session_end": {...}} (segment optional). '
                   'A window with both ends on the wall clock ("now", seconds_ago, wall_time) has exactly the asked '
                   'length in samples')


class StreamSliceArgs(_Args):
    uri: str = Field(description="the stream to cut from")
    start: Any = Field(description=f"where the slice begins: {TIME_POINT_HELP}")
    end: Any = Field("now", description=f"where it ends (exclusive): {TIME_POINT_HELP}")
    output: Literal["materialize", "virtual", "notes"] = Field(
        "materialize", description="materialize: a WAV (audio) or Standard MIDI File; virtual: a chunk manifest; "
                                   "notes (MIDI streams): the notes starting in the window, listed in the result "
                                   "(pitch, name, start_s, start_beat, duration_s, velocity, channel) and kept as "
                                   "a JSON artifact {\"notes\": [...]}")
    tags: list[str] = Field(default_factory=list, description="tags for artifact_list")
    channels: list[int] | None = Field(None, description="audio channel indexes to keep, in this order, e.g. [3] "
                                                         "for the fourth input; all when omitted (materialize only)")
    format: FileFormat = Field("wav", description="audio file format: 'wav' (RF64 past 4 GiB) or 'flac' "
                                                  "(lossless, at most 24 bits)")
    sample_format: TargetFormat | None = Field(None, description="audio samples: as recorded when omitted (every "
                                                                 "bit kept), or 's16' (TPDF-dithered), 's24' "
                                                                 "(rounded) or 'f32'")
    picture: bool = Field(False, description="also return an 800x300 PNG of the slice: for audio a waveform with a "
                                             "time axis in seconds of the stream, a dBFS level scale, one labelled "
                                             "lane per channel and its peak; for MIDI a piano roll with note names "
                                             "(C4 = note 60) and velocity as shade. Only with output 'materialize'")
    excerpt_seconds: float | None = Field(None, gt=0, description="audio: also return the slice's first this many "
                                                                  "seconds as audio content (a 16-bit WAV of the "
                                                                  "channels kept), with a link to the whole "
                                                                  "artifact; at most slicing.excerpt_max_seconds "
                                                                  "(30 s unless configured). Only with output "
                                                                  "'materialize'")


class StreamList(ResultModel):
    streams: list[StreamStatus]


def add_capture_tools(registry: ToolRegistry, streams: StreamService, artifacts: ArtifactStore,
                      devices: DeviceRegistry, slicer: Slicer) -> None:
    async def stream_create(args: StreamCreateArgs) -> ToolOutput:
        result = streams.create(args.model_dump(mode="json", exclude={"channel_names"}))
        if args.channel_names:
            result = result.model_copy(update={"channel_names": streams.name_channels(args.uri, args.channel_names)})
        return ToolOutput(result, f"defined {args.uri} on {args.device}")

    async def stream_update(args: StreamUpdateArgs) -> ToolOutput:
        names = streams.name_channels(args.uri, args.channel_names)
        count = streams.recorder(args.uri).definition.channels
        return ToolOutput(StreamChannels(uri=args.uri, channels=count, channel_names=names),
                          f"{args.uri}: " + (", ".join(f"{k} {v}" for k, v in sorted(names.items())) or "no names"))

    async def stream_start(args: StreamUriArgs) -> ToolOutput:
        status = await streams.start(args.uri)
        return ToolOutput(status, f"{args.uri} recording from sample {status.head_sample}")

    async def stream_stop(args: StreamUriArgs) -> ToolOutput:
        status = await streams.stop(args.uri)
        return ToolOutput(status, f"{args.uri} stopped at sample {status.head_sample}")

    async def stream_status(args: StreamStatusArgs) -> ToolOutput:
        rows = streams.status(args.uri)
        return ToolOutput(StreamList(streams=rows), "; ".join(f"{r.uri} {r.state} @{r.head_sample}" for r in rows)
                          or "no streams defined")

    async def artifact_get(args: ArtifactGetArgs) -> ToolOutput:
        item = artifacts.get(args.artifact_id)
        if args.materialize:
            if item.mime != MIME_VIRTUAL:
                raise ServiceError("badRequest", f"materialize: {item.id} is {item.mime}, not a virtual slice; "
                                                 "only virtual slices can be materialized")
            item = await slicer.materialize(item)
        return ToolOutput(item.info(), f"{item.id}: {item.mime}, {item.bytes} bytes")

    async def artifact_list(args: ArtifactListArgs) -> ToolOutput:
        items = [a.info() for a in artifacts.list(args.tag, args.limit)]
        return ToolOutput(ArtifactList(artifacts=items), f"{len(items)} artifacts")

    async def stream_slice(args: StreamSliceArgs, progress: Progress | None = None) -> ToolOutput:
        if args.picture and args.output != "materialize":
            raise ServiceError("badRequest", f"picture: only with output 'materialize' (it is drawn from the cut WAV "
                                             f"or MIDI file), not {args.output!r}; use picture=false or "
                                             "output='materialize'")
        if args.excerpt_seconds is not None:
            slicer.check_excerpt(args.uri, args.output, args.excerpt_seconds)
        result = await slicer.slice(args.uri, args.start, args.end, args.output, args.tags, progress, args.channels,
                                    Encoding(args.format, args.sample_format))
        start, end = result.sample_range
        text = f"{result.artifact_id}: {args.uri} samples {start}..{end} ({result.seconds:.3f} s) as {result.mime}"
        if result.notes is not None:
            names = " ".join(n.name for n in result.notes[:16]) + (" …" if len(result.notes) > 16 else "")
            text += f"; {result.note_count} notes{': ' + names if names else ''}"
        images = [await asyncio.to_thread(picture, artifacts, result)] if args.picture else []
        if args.excerpt_seconds is None:
            return ToolOutput(result, text, images)
        excerpt = await slicer.excerpt(result, args.excerpt_seconds)
        whole = Download(result.download_url, result.artifact_id, result.mime, result.bytes,
                         f"the whole slice, {result.seconds:.3f} s of {args.uri} (GET with the MCP bearer token)")
        heard = min(args.excerpt_seconds, result.seconds)
        return ToolOutput(result, f"{text}; excerpt: the first {heard:.3f} s as audio/wav", images, [excerpt],
                          [whole])

    async def device_list(_args: NoArgs) -> ToolOutput:
        rows = devices.list()
        return ToolOutput(DeviceList(devices=rows), ", ".join(f"{d.id} ({'connected' if d.connected else 'gone'})"
                                                              for d in rows))

    for tool in (
        Tool("stream_create", "Define a capture stream (stored in CAS). Redefining is allowed while stopped.",
             StreamCreateArgs, StreamCreated, stream_create, idempotent=True),
        Tool("stream_update", "Name a stream's channels (e.g. the inputs of an 8-channel interface); stems from "
             "session_export are named after them. Allowed while recording.", StreamUpdateArgs, StreamChannels,
             stream_update, idempotent=True),
        Tool("stream_start", "Start recording a defined stream.", StreamUriArgs, StreamStatus, stream_start),
        Tool("stream_stop", "Stop recording; everything captured is sealed.", StreamUriArgs, StreamStatus,
             stream_stop),
        Tool("stream_status", "Per stream: state, head sample, chunks sealed, bytes, xruns, device, last error.",
             StreamStatusArgs, StreamList, stream_status, read_only=True, idempotent=True),
        Tool("stream_slice", "Cut [start, end) of a stream into an artifact: WAV / Standard MIDI File, or a "
             "virtual chunk manifest. Sample-accurate; returns artifact_id, content_hash, sample_range, "
             "source_chunks and a download URL; picture=true adds a PNG of what was cut, with labelled axes; "
             "excerpt_seconds adds the first seconds as audio content and a link to the whole WAV; output "
             "'notes' lists a MIDI window's notes. Reports progress.",
             StreamSliceArgs, SliceResult, stream_slice, reports_progress=True),
        Tool("artifact_get", "An artifact's metadata, lineage and download URL.", ArtifactGetArgs, ArtifactInfo,
             artifact_get, read_only=True, idempotent=True),
        Tool("artifact_list", "Artifacts, newest first, optionally only those with a tag.", ArtifactListArgs,
             ArtifactList, artifact_list, read_only=True, idempotent=True),
        Tool("device_list", "Audio and MIDI devices the box knows, connected or not.", NoArgs, DeviceList,
             device_list, read_only=True, idempotent=True),
    ):
        registry.add(tool)


