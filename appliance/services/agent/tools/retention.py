"""The retention tool: how much of a stream the box keeps."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.capture.retention import Policy, Retention


class RetentionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str
    keep_hours: float | None = Field(None, gt=0, description="keep this many hours; older chunks are released")
    keep_gib: float | None = Field(None, gt=0, description="keep at most this many GiB of chunks")

    @model_validator(mode="after")
    def _something(self) -> "RetentionArgs":
        if self.keep_hours is None and self.keep_gib is None:
            raise ValueError("give keep_hours, keep_gib or both")
        return self


def add_retention_tool(registry: ToolRegistry, retention: Retention) -> None:
    async def stream_retention(args: RetentionArgs) -> ToolOutput:
        retention.set_policy(args.uri, Policy(args.keep_hours, args.keep_gib))
        released = retention.apply().get(args.uri, 0)
        return ToolOutput({"uri": args.uri, "keep_hours": args.keep_hours, "keep_gib": args.keep_gib,
                           "released_chunks": released},
                          f"{args.uri}: keeping {args.keep_hours or '-'} h / {args.keep_gib or '-'} GiB; "
                          f"released {released} chunks")

    registry.add(Tool("stream_retention", "Keep only the last N hours and/or N GiB of a stream; chunks a slice "
                      "or session needs are kept.", RetentionArgs, stream_retention, idempotent=True))
