"""The capture tools: streams, artifacts and devices, as the agent sees them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from appliance.proto.stream_definition import SampleFormat, StreamKind
from appliance.cas import ContentStore
from appliance.services.artifacts import Artifact, ArtifactStore
from appliance.services.manifest import Manifest
from appliance.services.service_error import ServiceError
from appliance.services.slicer import (
    MIME_VIRTUAL,
    MIME_WAV,
    SliceError,
    SliceInfo,
    VirtualSlice,
    materialize_virtual,
    slice_stream,
)
from appliance.services.timepoints import TimePointError, moment_of, parse_time_point, resolve_window
from appliance.services.devices import DeviceRegistry
from appliance.services.streams import StreamService
from appliance.services.tool_registry import Progress, Tool, ToolOutput, ToolRegistry


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
    output: Literal["materialize", "virtual"] = Field(
        "materialize", description="materialize: a WAV (audio) or Standard MIDI File; virtual: a chunk manifest")
    tags: list[str] = Field(default_factory=list, description="tags for artifact_list")
    picture: bool = Field(False, description="also return a small PNG of the slice (waveform, or piano roll for "
                                             "MIDI); only with output 'materialize'")


class Slicer:
    """stream_slice: resolve the window, cut it in a worker thread, keep it as an artifact."""

    def __init__(self, streams: StreamService, artifacts: ArtifactStore, store: ContentStore) -> None:
        self.streams, self.artifacts, self.store = streams, artifacts, store

    async def slice(self, args: StreamSliceArgs, progress: Progress | None = None) -> dict[str, Any]:
        arrived = time.time_ns()  # "now", for every time point of this request
        await self._wait_for(args, arrived)
        with self.streams.snapshot(args.uri) as manifest:
            try:
                start, end = resolve_window(args.start, args.end, manifest, now_realtime_ns=arrived,
                                            session_edge=self.streams.session_edge)
            except TimePointError as exc:
                raise ServiceError("badRequest", str(exc)) from None
            staging = self.store.create_staging()
            try:
                info = await asyncio.to_thread(slice_stream, manifest, self.store, start, end, staging.path,
                                               args.output, progress)
            except SliceError as exc:
                self.store.release(staging.path)
                raise ServiceError("badRequest" if "outside" in str(exc) else "unavailable", str(exc)) from None
            return self._keep(args, manifest, staging.path, info)

    async def _wait_for(self, args: StreamSliceArgs, arrived: int) -> None:
        """Wait until the recording has passed the latest wall-clock moment the window names (at most "now")."""
        try:
            moments = [moment_of(parse_time_point(value, name), arrived)
                       for name, value in (("start", args.start), ("end", args.end))]
        except TimePointError as exc:
            raise ServiceError("badRequest", str(exc)) from None
        named = [m for m in moments if m is not None and m <= arrived]
        if named:
            await self.streams.wait_for_moment(args.uri, max(named))

    async def materialize(self, virtual: Artifact) -> Artifact:
        """Cut the file a virtual slice describes, as a new artifact whose parent is the virtual one."""
        staging = self.store.create_staging()
        try:
            info = await asyncio.to_thread(materialize_virtual, _virtual(virtual, self.store), self.store,
                                           staging.path)
        except SliceError as exc:
            self.store.release(staging.path)
            raise ServiceError("unavailable", str(exc)) from None
        return self.artifacts.add_file(staging.path, mime=info.mime, tags=virtual.tags, parent_id=virtual.id,
                                       metadata={"lineage": {**virtual.metadata.get("lineage", {}),
                                                             "output": "materialize"}},
                                       chunks=info.source_chunks)

    def _keep(self, args: StreamSliceArgs, manifest: Manifest, path: Path, info: SliceInfo) -> dict[str, Any]:
        lineage = {
            "stream": info.stream, "sample_range": list(info.sample_range), "source_chunks": info.source_chunks,
            "clocks": [c.model_dump() for c in info.clocks], "definition_hash": manifest.definition_digest,
            "sample_rate": manifest.definition.sample_rate, "output": args.output,
        }
        artifact = self.artifacts.add_file(path, mime=info.mime, tags=args.tags, metadata={"lineage": lineage},
                                           chunks=info.source_chunks)
        return {
            "artifact_id": artifact.id, "content_hash": artifact.content_hash, "mime": info.mime,
            "sample_range": list(info.sample_range), "seconds": info.frames / manifest.definition.sample_rate,
            "source_chunks": info.source_chunks, "download_url": f"/artifacts/{artifact.id}", "bytes": artifact.bytes,
        }


def _picture(artifacts: ArtifactStore, result: dict[str, Any]) -> bytes:
    """The slice's PNG: a waveform for a WAV, a piano roll for a MIDI file."""
    # Imported here: numpy, PIL and mido under it are a sixth of hootenanny's start, which is on the boot path.
    from appliance.services.waveform_picture import audio_png, midi_png

    _artifact, path = artifacts.content_path(result["artifact_id"])
    return audio_png(path) if result["mime"] == MIME_WAV else midi_png(path)


def _virtual(artifact: Artifact, store: ContentStore) -> VirtualSlice:
    try:
        return VirtualSlice.model_validate_json(store.path(artifact.content_hash).read_bytes())
    except (OSError, ValueError) as exc:
        raise ServiceError("unavailable", f"{artifact.id}: its virtual slice cannot be read: {exc}") from None


def add_capture_tools(registry: ToolRegistry, streams: StreamService, artifacts: ArtifactStore,
                      devices: DeviceRegistry, slicer: Slicer) -> None:
    async def stream_create(args: StreamCreateArgs) -> ToolOutput:
        result = streams.create(args.model_dump(mode="json"))
        return ToolOutput(result, f"defined {args.uri} on {args.device}")

    async def stream_start(args: StreamUriArgs) -> ToolOutput:
        status = await streams.start(args.uri)
        return ToolOutput(status, f"{args.uri} recording from sample {status['head_sample']}")

    async def stream_stop(args: StreamUriArgs) -> ToolOutput:
        status = await streams.stop(args.uri)
        return ToolOutput(status, f"{args.uri} stopped at sample {status['head_sample']}")

    async def stream_status(args: StreamStatusArgs) -> ToolOutput:
        rows = streams.status(args.uri)
        return ToolOutput({"streams": rows}, "; ".join(f"{r['uri']} {r['state']} @{r['head_sample']}" for r in rows)
                          or "no streams defined")

    async def artifact_get(args: ArtifactGetArgs) -> ToolOutput:
        item = artifacts.get(args.artifact_id)
        if args.materialize:
            if item.mime != MIME_VIRTUAL:
                raise ServiceError("badRequest", f"materialize: {item.id} is {item.mime}, not a virtual slice; "
                                                 "only virtual slices can be materialized")
            item = await slicer.materialize(item)
        return ToolOutput(item.public(), f"{item.id}: {item.mime}, {item.bytes} bytes")

    async def artifact_list(args: ArtifactListArgs) -> ToolOutput:
        items = [a.public() for a in artifacts.list(args.tag, args.limit)]
        return ToolOutput({"artifacts": items}, f"{len(items)} artifacts")

    async def stream_slice(args: StreamSliceArgs, progress: Progress | None = None) -> ToolOutput:
        if args.picture and args.output != "materialize":
            raise ServiceError("badRequest", "picture: only with output 'materialize' (a virtual slice has no "
                                             "samples to draw); use picture=false or output='materialize'")
        result = await slicer.slice(args, progress)
        start, end = result["sample_range"]
        images = [await asyncio.to_thread(_picture, artifacts, result)] if args.picture else []
        return ToolOutput(result, f"{result['artifact_id']}: {args.uri} samples {start}..{end} "
                                  f"({result['seconds']:.3f} s) as {result['mime']}", images)

    async def device_list(_args: NoArgs) -> ToolOutput:
        rows = devices.list()
        return ToolOutput({"devices": rows}, ", ".join(f"{d['id']} ({'connected' if d['connected'] else 'gone'})"
                                                       for d in rows))

    for tool in (
        Tool("stream_create", "Define a capture stream (stored in CAS). Redefining is allowed while stopped.",
             StreamCreateArgs, stream_create, idempotent=True),
        Tool("stream_start", "Start recording a defined stream.", StreamUriArgs, stream_start),
        Tool("stream_stop", "Stop recording; everything captured is sealed.", StreamUriArgs, stream_stop),
        Tool("stream_status", "Per stream: state, head sample, chunks sealed, bytes, xruns, device, last error.",
             StreamStatusArgs, stream_status, read_only=True, idempotent=True),
        Tool("stream_slice", "Cut [start, end) of a stream into an artifact: WAV / Standard MIDI File, or a "
             "virtual chunk manifest. Sample-accurate; returns artifact_id, content_hash, sample_range, "
             "source_chunks and a download URL; picture=true adds a small PNG of what was cut. Reports progress.",
             StreamSliceArgs, stream_slice, reports_progress=True),
        Tool("artifact_get", "An artifact's metadata, lineage and download URL.", ArtifactGetArgs, artifact_get,
             read_only=True, idempotent=True),
        Tool("artifact_list", "Artifacts, newest first, optionally only those with a tag.", ArtifactListArgs,
             artifact_list, read_only=True, idempotent=True),
        Tool("device_list", "Audio and MIDI devices the box knows, connected or not.", NoArgs, device_list,
             read_only=True, idempotent=True),
    ):
        registry.add(tool)


