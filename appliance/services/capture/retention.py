"""Per-stream retention: keep the last N hours and/or N GiB of a stream.

Older chunks leave the manifest (their time becomes unavailable, and the
clock snapshots before the new beginning go with them) unless a slice or a
session still needs them: an artifact that names the chunk, or a session
segment whose window overlaps it. Released content is deleted by the
garbage collection that follows. `keep` answers `stream_retention`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass

from pydantic import Field

from appliance.services.capture.manifest import ChunkRef
from appliance.services.capture.recorder import Recorder
from appliance.services.capture.streams import StreamService
from appliance.services.results import ResultModel

log = logging.getLogger(__name__)

NS = 1_000_000_000
GIB = 1 << 30


@dataclass(frozen=True)
class Policy:
    keep_hours: float | None
    keep_gib: float | None


class RetentionSet(ResultModel):
    uri: str
    keep_hours: float | None
    keep_gib: float | None
    released_chunks: int = Field(description="chunks let go now under the new policy")


class Retention:
    def __init__(self, db: sqlite3.Connection, streams: StreamService) -> None:
        self.db = db
        self.streams = streams

    def set_policy(self, uri: str, policy: Policy) -> None:
        self.streams.recorder(uri)
        self.db.execute("UPDATE streams SET retention_hours=?, retention_bytes=? WHERE uri=?",
                        (policy.keep_hours, int(policy.keep_gib * GIB) if policy.keep_gib else None, uri))

    def keep(self, uri: str, policy: Policy) -> RetentionSet:
        """Give `uri` its policy and release at once what it lets go (every stream's policy is applied)."""
        self.set_policy(uri, policy)
        released = self.apply().get(uri, 0)
        return RetentionSet(uri=uri, keep_hours=policy.keep_hours, keep_gib=policy.keep_gib,
                            released_chunks=released)

    def policy(self, uri: str) -> Policy:
        row = self.db.execute("SELECT retention_hours, retention_bytes FROM streams WHERE uri=?", (uri,)).fetchone()
        return Policy(row["retention_hours"], row["retention_bytes"] / GIB if row["retention_bytes"] else None)

    def apply(self, now_ns: int | None = None) -> dict[str, int]:
        """Release what every stream's policy lets go; returns released chunk counts per stream."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        protected = self._protected_digests()
        released = {}
        for uri, rec in self.streams.recorders.items():
            policy = self.policy(uri)
            if policy.keep_hours is None and policy.keep_gib is None:
                continue
            gone = [c for c in self._expired(rec, policy, now_ns) if c.digest not in protected
                    and not self._in_session_window(uri, c)]
            if gone:
                self.streams.flow.release(rec, gone)
                released[uri] = len(gone)
                log.info("%s: retention released %d chunks", uri, len(gone))
        return released

    def _expired(self, rec: Recorder, policy: Policy, now_ns: int) -> list[ChunkRef]:
        chunks = sorted(rec.manifest.chunks, key=lambda c: c.first_sample)
        expired: list[ChunkRef] = []
        total = sum(c.bytes for c in chunks)
        for chunk in chunks[:-1]:  # the newest sealed chunk always stays
            too_old = policy.keep_hours is not None and \
                now_ns - self._realtime_end(rec, chunk) > policy.keep_hours * 3600 * NS
            too_big = policy.keep_gib is not None and total > policy.keep_gib * GIB
            if not (too_old or too_big):
                break
            expired.append(chunk)
            total -= chunk.bytes
        return expired

    def _realtime_end(self, rec: Recorder, chunk: ChunkRef) -> int:
        clocks = [c for c in rec.manifest.clocks if c.sample >= chunk.end_sample] or rec.manifest.clocks
        pin = min(clocks, key=lambda c: abs(c.sample - chunk.end_sample))
        return pin.realtime_ns + (chunk.end_sample - pin.sample) * NS // rec.definition.sample_rate

    def _protected_digests(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT digest FROM artifact_chunks")}

    def _in_session_window(self, uri: str, chunk: ChunkRef) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM segment_edges WHERE stream_uri=? AND start_sample < ? AND"
            " (end_sample IS NULL OR end_sample > ?) LIMIT 1", (uri, chunk.end_sample, chunk.first_sample)).fetchone()
        return row is not None
