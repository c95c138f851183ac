"""The transport and timeline tools: the beat clock, regions, auditions and markers, kept by chaosgarden."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.playback import Playback
from appliance.services.playback_results import AuditionStarted, Marker, Region, TimelineContents, TransportState


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class SeekArgs(_Args):
    beat: float = Field(ge=0, description="the beat to move the transport to")


class TempoArgs(_Args):
    bpm: float = Field(ge=20, le=400, description="beats per minute, 20 to 400")


class ScheduleArgs(_Args):
    artifact_id: str = Field(description="a WAV or Standard MIDI File artifact")
    at: float = Field(ge=0, description="the beat where it starts")
    duration: float | None = Field(None, gt=0, description="beats it plays for (default: all of it)")
    gain: float = Field(1.0, ge=0, le=4, description="linear gain, 0 to 4")


class RemoveArgs(_Args):
    region_id: str = Field(min_length=1, description="a region id from timeline_schedule or timeline_list")


class AuditionArgs(_Args):
    artifact_id: str = Field(description="a WAV or Standard MIDI File artifact")
    duration: float | None = Field(None, gt=0, description="seconds it plays for (default: all of it)")
    gain: float = Field(1.0, ge=0, le=4, description="linear gain, 0 to 4")


class MarkerArgs(_Args):
    name: str = Field(min_length=1, max_length=200, description="the marker's name; a new beat replaces the old")
    beat: float = Field(ge=0, description="the beat where it is reached")
    metadata: dict[str, Any] = Field(default_factory=dict, description="JSON handed back in MarkerReached")


def add_playback_tools(registry: ToolRegistry, playback: Playback) -> None:
    def state_output(state: TransportState) -> ToolOutput:
        notes = [f"{o.kind} output {o.device}: {o.error}" for o in state.outputs if o.error]
        link = state.link
        if link.error:
            notes.append(f"Link: {link.error}")
        elif link.mode != "off":
            notes.append(f"Link: {link.mode}ing, {link.peers} peers")
        return ToolOutput(state, "; ".join([f"{state.state} at beat {state.beat:.3f}, {state.tempo_bpm:g} bpm",
                                            *notes]))

    async def transport_play(_args: NoArgs) -> ToolOutput:
        return state_output(await playback.transport("play"))

    async def transport_pause(_args: NoArgs) -> ToolOutput:
        return state_output(await playback.transport("pause"))

    async def transport_stop(_args: NoArgs) -> ToolOutput:
        return state_output(await playback.transport("stop"))

    async def transport_status(_args: NoArgs) -> ToolOutput:
        return state_output(await playback.transport("status"))

    async def transport_seek(args: SeekArgs) -> ToolOutput:
        return state_output(await playback.transport("seek", args.beat))

    async def transport_tempo(args: TempoArgs) -> ToolOutput:
        return state_output(await playback.transport("tempo", args.bpm))

    async def timeline_schedule(args: ScheduleArgs) -> ToolOutput:
        region = await playback.schedule(args.artifact_id, args.at, args.duration, args.gain)
        return ToolOutput(region, f"{region.region_id}: {args.artifact_id} at beat {args.at:g}")

    async def timeline_remove(args: RemoveArgs) -> ToolOutput:
        removed = await playback.remove(args.region_id)
        return ToolOutput(removed, f"removed {removed.region_id} ({removed.artifact_id} at beat {removed.at:g})")

    async def timeline_list(_args: NoArgs) -> ToolOutput:
        contents = await playback.contents()
        return ToolOutput(contents, f"{len(contents.regions)} regions, {len(contents.markers)} markers")

    async def timeline_audition(args: AuditionArgs) -> ToolOutput:
        started = await playback.audition(args.artifact_id, args.duration, args.gain)
        return ToolOutput(started, f"auditioning {args.artifact_id} for {started.duration_seconds:.3f} s")

    async def timeline_marker(args: MarkerArgs) -> ToolOutput:
        marker = await playback.marker(args.name, args.beat, args.metadata)
        return ToolOutput(marker, f"marker {args.name} at beat {args.beat:g}")

    for tool in (
        Tool("transport_play", "Start (or resume) the beat clock from where it is.", NoArgs, TransportState,
             transport_play),
        Tool("transport_pause", "Hold the beat clock where it is.", NoArgs, TransportState, transport_pause),
        Tool("transport_stop", "Stop the beat clock and return to beat 0.", NoArgs, TransportState, transport_stop),
        Tool("transport_status", "The transport's state, beat, tempo and sample position; the outputs it plays to "
             "with why one cannot play (error); Ableton Link's mode, peers and error.", NoArgs,
             TransportState, transport_status, read_only=True, idempotent=True),
        Tool("transport_seek", "Move the transport to a beat (playing on if it was playing).", SeekArgs,
             TransportState, transport_seek, idempotent=True),
        Tool("transport_tempo", "Set the tempo in beats per minute (20 to 400); beats continue from where they are.",
             TempoArgs, TransportState, transport_tempo, idempotent=True),
        Tool("timeline_schedule", "Place a WAV or MIDI artifact on the timeline at a beat, for a duration in beats, "
             "with a gain (0 to 4). Returns region_id.", ScheduleArgs, Region, timeline_schedule),
        Tool("timeline_remove", "Take a region off the timeline by region_id; if it is sounding it stops at once "
             "(audio fades out in a few ms, MIDI notes are released).", RemoveArgs, Region, timeline_remove,
             destructive=True),
        Tool("timeline_list", "Every region (region_id, artifact_id, at, duration, gain) and marker on the timeline, "
             "in beat order.", NoArgs, TimelineContents, timeline_list, read_only=True, idempotent=True),
        Tool("timeline_audition", "Play a WAV or MIDI artifact now, outside the timeline, for a duration in seconds.",
             AuditionArgs, AuditionStarted, timeline_audition),
        Tool("timeline_marker", "Set a named marker at a beat; MarkerReached is broadcast when the transport "
             "passes it.", MarkerArgs, Marker, timeline_marker, idempotent=True),
    ):
        registry.add(tool)
