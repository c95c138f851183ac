"""The request/response tools: MIDI out to the hardware, its audio answer back, and loopback calibration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.sessions.request_response import MidiEvent, RequestResponse, RequestResult


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestArgs(_Args):
    session: str = Field(description="a request_response session from session_create")
    artifact_id: str | None = Field(None, description="a Standard MIDI File artifact to send")
    events: list[MidiEvent] | None = Field(None, min_length=1, description="or MIDI events to send")
    tail_seconds: float = Field(1.0, ge=0, le=60, description="recording kept after the MIDI ends")

    @model_validator(mode="after")
    def _one_source(self) -> "RequestArgs":
        if (self.artifact_id is None) == (self.events is None):
            raise ValueError("give exactly one of artifact_id or events")
        return self


class CalibrateArgs(_Args):
    session: str = Field(description="a request_response session whose midi_out is patched to its audio_in")


def add_request_response_tools(registry: ToolRegistry, rr: RequestResponse) -> None:
    async def session_request(args: RequestArgs) -> ToolOutput:
        result = await rr.request(args.session, artifact_id=args.artifact_id, events=args.events,
                                  tail_seconds=args.tail_seconds, tags=[])
        latency = result.round_trip_latency_seconds
        heard = "no answer above the noise" if latency is None else f"round trip {latency * 1000:.1f} ms"
        return ToolOutput(result, f"{result.midi_artifact_id} -> {result.audio_artifact_id} ({heard})")

    async def session_calibrate(args: CalibrateArgs) -> ToolOutput:
        result = await rr.calibrate(args.session)
        latency = result.round_trip_latency_seconds
        assert latency is not None  # calibrate refuses a loop that stays silent
        return ToolOutput(result, f"{args.session}: round trip {latency * 1000:.1f} ms")

    registry.add(Tool("session_request", "Request/response: send a MIDI artifact (or events) to the session's "
                      "midi_out, record its audio_in for the MIDI's length plus tail_seconds, return both as linked "
                      "artifacts with the measured round-trip latency.", RequestArgs, RequestResult, session_request))
    registry.add(Tool("session_calibrate", "Loopback calibration: send one note to the session's midi_out and "
                      "measure how long until it is heard on audio_in.", CalibrateArgs, RequestResult,
                      session_calibrate))
