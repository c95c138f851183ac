"""The capture tools: streams, artifacts and devices, as the agent sees them."""

from __future__ import annotations



from pydantic import BaseModel, ConfigDict, Field

from appliance.proto.stream_definition import SampleFormat, StreamKind
from appliance.services.artifacts import ArtifactStore
from appliance.services.devices import DeviceRegistry
from appliance.services.streams import StreamService
from appliance.services.tool_registry import Tool, ToolOutput, ToolRegistry


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


class ArtifactListArgs(_Args):
    tag: str | None = None
    limit: int = Field(50, ge=1, le=500)


class NoArgs(_Args):
    pass


def add_capture_tools(registry: ToolRegistry, streams: StreamService, artifacts: ArtifactStore,
                      devices: DeviceRegistry) -> None:
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
        return ToolOutput(item.public(), f"{item.id}: {item.mime}, {item.bytes} bytes")

    async def artifact_list(args: ArtifactListArgs) -> ToolOutput:
        items = [a.public() for a in artifacts.list(args.tag, args.limit)]
        return ToolOutput({"artifacts": items}, f"{len(items)} artifacts")

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
        Tool("artifact_get", "An artifact's metadata, lineage and download URL.", ArtifactGetArgs, artifact_get,
             read_only=True, idempotent=True),
        Tool("artifact_list", "Artifacts, newest first, optionally only those with a tag.", ArtifactListArgs,
             artifact_list, read_only=True, idempotent=True),
        Tool("device_list", "Audio and MIDI devices the box knows, connected or not.", NoArgs, device_list,
             read_only=True, idempotent=True),
    ):
        registry.add(tool)


