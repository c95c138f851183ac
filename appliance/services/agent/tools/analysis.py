"""The analysis tools, as the agent sees them: stream_analyze."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.agent.tools.capture import TIME_POINT_HELP
from appliance.services.analysis.analyzer import Analyzer, PictureKind, StreamAnalysis

MIN_SIZE, MAX_SIZE = (320, 200), (4000, 4000)  # pictures.canvas: below 320x200 labels leave no room


class StreamAnalyzeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str | None = Field(None, description="the stream to analyse (with start and end); or give artifact_id")
    start: Any = Field(None, description=f"where the window begins: {TIME_POINT_HELP}")
    end: Any = Field("now", description=f"where it ends (exclusive): {TIME_POINT_HELP}")
    artifact_id: str | None = Field(None, description="analyse an artifact (WAV, MIDI file or virtual slice) "
                                                      "instead of a stream window")
    channels: list[int] | None = Field(None, description="audio channel indexes to analyse, e.g. [3] for the fourth "
                                                         "input; all when omitted")
    picture: PictureKind | None = Field(None, description="also return a PNG: 'waveform' (time axis in s, dBFS "
                                                          "scale, channel labels) or 'spectrogram' (log Hz, dB "
                                                          "colour scale) for audio, 'piano_roll' for MIDI")
    width: int = Field(800, ge=MIN_SIZE[0], le=MAX_SIZE[0], description="picture width in pixels")
    height: int = Field(400, ge=MIN_SIZE[1], le=MAX_SIZE[1], description="picture height in pixels")

    @model_validator(mode="after")
    def _one_source(self) -> StreamAnalyzeArgs:
        if (self.uri is None) == (self.artifact_id is None):
            raise ValueError("give either uri (with start and end) or artifact_id, not both and not neither")
        if self.uri is not None and self.start is None:
            raise ValueError("start: required with uri (e.g. {\"seconds_ago\": 10})")
        if self.artifact_id is not None and self.start is not None:
            raise ValueError("start: an artifact is analysed whole; drop start/end or give uri instead")
        return self


def add_analysis_tools(registry: ToolRegistry, analyzer: Analyzer) -> None:
    async def stream_analyze(args: StreamAnalyzeArgs) -> ToolOutput:
        size = (args.width, args.height)
        if args.uri is not None:
            result, images = await analyzer.stream(args.uri, args.start, args.end, args.channels, args.picture, size)
        else:
            assert args.artifact_id is not None  # _one_source
            result, images = await analyzer.artifact(args.artifact_id, args.channels, args.picture, size)
        return ToolOutput(result, summary(result), images)

    registry.add(Tool(
        "stream_analyze",
        "Measure a window of a stream (uri + start/end, as stream_slice) or an artifact: per audio channel "
        "loudness_lufs (BS.1770-4), short-term max, peak_dbfs, true_peak_dbtp, rms_dbfs, crest factor, clipped "
        "samples, silent fraction, pitch_hz, key and chroma, spectral centroid and flatness, onsets_s; for the "
        "window tempo_bpm, beats_s and stereo correlation; for MIDI the notes (name, start in s and beats, "
        "duration, velocity, channel), density, range and MIDI-clock tempo. A figure that cannot be had is null "
        "and `unavailable` says why. picture adds a labelled PNG.",
        StreamAnalyzeArgs, StreamAnalysis, stream_analyze, read_only=True, idempotent=True))


def summary(result: StreamAnalysis) -> str:
    """One line per channel (or the notes), for clients that show only text."""
    head = f"{result.source}: {result.duration_s:.3f} s of {result.kind}"
    if result.midi is not None:
        midi = result.midi
        names = " ".join(n.name for n in midi.notes[:16]) + (" …" if midi.note_count > 16 else "")
        return f"{head}; {midi.note_count} notes{': ' + names if names else ''}"
    assert result.audio is not None
    lines = [head + (f"; tempo {result.audio.tempo_bpm:.1f} bpm" if result.audio.tempo_bpm is not None else "")]
    for ch in result.audio.channels:
        lines.append(f"ch {ch.channel}: " + ", ".join(
            f"{name} {value:.1f}" if isinstance(value, float) else f"{name} {value}"
            for name, value in (("LUFS", ch.loudness_lufs), ("peak dBFS", ch.peak_dbfs),
                                ("pitch Hz", ch.pitch_hz), ("key", ch.key)) if value is not None) or "silent")
    return "\n".join(lines)
