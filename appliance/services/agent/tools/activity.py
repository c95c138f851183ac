"""The activity tools, as the agent sees them: stream_activity and stream_find."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from appliance.services.activity.activity_queries import ActivityQueries
from appliance.services.activity.finder import FindRequest, FindResult, Query
from appliance.services.activity.history import MAX_BUCKETS, StreamActivity
from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.agent.tools.analysis import MAX_SIZE, MIN_SIZE
from appliance.services.agent.tools.capture import TIME_POINT_HELP
from appliance.services.analysis.audio_figures import SILENCE_DBFS

OLDEST = ("the oldest moment indexed (the index outlives the audio's retention); a start before the recording "
          "began is taken as its beginning")


class StreamActivityArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str = Field(description="the stream")
    start: Any = Field(None, description=f"where the window begins: {TIME_POINT_HELP}; omitted: {OLDEST}")
    end: Any = Field("now", description=f"where it ends (exclusive): {TIME_POINT_HELP}")
    resolution: float | None = Field(None, gt=0, description=f"seconds per bucket (whole 100 ms blocks); omitted: "
                                                             f"about 240 buckets over the window; at most "
                                                             f"{MAX_BUCKETS} buckets")
    picture: bool = Field(False, description="also return a PNG: level in dBFS per channel against minutes "
                                             "before the end, clipping marked (notes and pitch range for MIDI)")
    width: int = Field(800, ge=MIN_SIZE[0], le=MAX_SIZE[0], description="picture width in pixels")
    height: int = Field(400, ge=MIN_SIZE[1], le=MAX_SIZE[1], description="picture height in pixels")


class StreamFindArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str = Field(description="the stream")
    query: Query = Field(description="loudest: the loudest events (louder than silence_dbfs); sound_starts: sound after silence; "
                                     "silence_starts: silence after sound; clipping: runs of full-scale samples; "
                                     "change: where onset density or brightness shifts; note: MIDI notes (with "
                                     "pitch)")
    start: Any = Field(None, description=f"where the search begins: {TIME_POINT_HELP}; omitted: {OLDEST}")
    end: Any = Field("now", description=f"where it ends (exclusive): {TIME_POINT_HELP}")
    limit: int = Field(10, ge=1, le=1000, description="hits returned")
    channels: list[int] | None = Field(None, description="audio channels to search, e.g. [3]; all when omitted")
    pitch: int | str | None = Field(None, description="for note: a MIDI number (60), a note name ('C4', 'F#2') or "
                                                      "a pitch class in any octave ('Eb'); every note when omitted")
    silence_dbfs: float = Field(SILENCE_DBFS, ge=-120, le=0, description="a 100 ms block quieter than this (RMS) "
                                                                         "is silence")
    min_silence_s: float = Field(1.0, ge=0.1, le=3600, description="silence shorter than this does not count "
                                                                   "(sound_starts, silence_starts)")


def add_activity_tools(registry: ToolRegistry, queries: ActivityQueries) -> None:
    async def stream_activity(args: StreamActivityArgs) -> ToolOutput:
        size = (args.width, args.height) if args.picture else None
        result, images = await queries.activity(args.uri, args.start, args.end, args.resolution, size)
        return ToolOutput(result, activity_summary(result), images)

    async def stream_find(args: StreamFindArgs) -> ToolOutput:
        request = FindRequest(query=args.query, limit=args.limit, channels=args.channels,
                              silence_dbfs=args.silence_dbfs, min_silence_s=args.min_silence_s, pitch=args.pitch)
        result = await queries.find(args.uri, args.start, args.end, request)
        return ToolOutput(result, find_summary(result))

    registry.add(Tool(
        "stream_activity",
        "Hours of a stream's history from the activity index, in one compact answer: per bucket and channel the "
        "RMS and peak level (dBFS), onsets, brightness (spectral centroid, Hz) and clipped samples; for MIDI the "
        "notes and pitch range per bucket. The index is built as chunks seal and outlives the audio's retention. "
        "picture adds a labelled PNG.",
        StreamActivityArgs, StreamActivity, stream_activity, read_only=True, idempotent=True))
    registry.add(Tool(
        "stream_find",
        "Find moments in a stream's history: loudest, sound_starts, silence_starts, clipping, change, note. Each "
        "hit's start and end are {\"sample\": n} time points that stream_slice and stream_analyze take as they "
        "are; placed to the sample from the audio where it is still kept (exact).",
        StreamFindArgs, FindResult, stream_find, read_only=True, idempotent=True))


def activity_summary(result: StreamActivity) -> str:
    head = (f"{result.uri}: {result.buckets} buckets of {result.resolution_s:g} s from "
            f"{result.start_wall_time or result.sample_range[0]}")
    if result.midi is not None:
        return f"{head}; {sum(result.midi.notes)} notes"
    lines = [head]
    for ch in result.channels:
        levels = [v for v in ch.peak_dbfs if v is not None]
        lines.append(f"ch {ch.channel}: peak {max(levels):.1f} dBFS, {sum(ch.onsets)} onsets, "
                     f"{sum(ch.clipped_samples)} clipped" if levels else f"ch {ch.channel}: nothing indexed")
    return "\n".join(lines)


def find_summary(result: FindResult) -> str:
    lines = [f"{result.uri}: {result.total} {result.query} found, {len(result.hits)} shown"]
    for hit in result.hits:
        where = f"{hit.seconds_ago:.1f} s ago" if hit.seconds_ago is not None else f"sample {hit.start.sample}"
        lines.append(f"{where}: samples {hit.start.sample}-{hit.end.sample}"
                     + (f" ch {hit.channel}" if hit.channel is not None else "") + f", {hit.detail}")
    return "\n".join(lines)
