"""The retention tools: how much of a stream the box keeps, and removing the content nothing needs."""

from __future__ import annotations

import asyncio
import sqlite3

from pydantic import BaseModel, ConfigDict, Field, model_validator

from appliance.cas import ContentStore
from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.capture.retention import Policy, Retention, RetentionSet
from appliance.services.store import garbage
from appliance.services.store.garbage import GcDone


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
        kept = retention.keep(args.uri, Policy(args.keep_hours, args.keep_gib))
        return ToolOutput(kept, f"{args.uri}: keeping {args.keep_hours or '-'} h / {args.keep_gib or '-'} GiB; "
                                f"released {kept.released_chunks} chunks")

    registry.add(Tool("stream_retention", "Keep only the last N hours and/or N GiB of a stream; chunks a slice "
                      "or session needs are kept.", RetentionArgs, RetentionSet, stream_retention, idempotent=True))


class GcArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description="only report what would be removed")
    grace_seconds: float = Field(garbage.GRACE_SECONDS, ge=0, le=86400 * 365,
                                 description="never remove content sealed less than this many seconds ago (it may "
                                             "not be in its manifest yet)")


def add_gc_tool(registry: ToolRegistry, db: sqlite3.Connection, store: ContentStore) -> None:
    async def cas_gc(args: GcArgs) -> ToolOutput:
        refs = garbage.references_or_refuse(db, store)
        report = await asyncio.to_thread(garbage.collect, store, refs, dry_run=args.dry_run,
                                         grace=args.grace_seconds)
        verb = "would remove" if args.dry_run else "removed"
        return ToolOutput(report, f"{verb} {len(report.removed)} files ({report.removed_bytes} bytes); "
                                  f"kept {report.kept}, {report.young} too recent to judge")

    registry.add(Tool("cas_gc", "Remove stored content nothing references (chunks released by retention, "
                      "superseded slices); content younger than grace_seconds is kept. dry_run only reports.",
                      GcArgs, GcDone, cas_gc, destructive=True))
