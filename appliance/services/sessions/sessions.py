"""Capture sessions: streams grouped under a name, and segments that are windows on them.

`play` opens a segment (closing any open one) at this moment on every
stream of the session, starting streams that are not recording; `stop`
closes the segment and the session, stops the streams the session started,
and stores the session artifact: a container whose metadata references each
stream's manifest (sealed into CAS) and whose chunks are kept by retention.
Segment edges are samples on each stream, taken from its clock snapshots.
A session is answered as a `SessionStatus`; `session_export` answers with a
`SessionExport` of the slices it cut.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.cas import ContentStore
from appliance.services.results import ResultModel
from appliance.services.store.artifacts import ArtifactRecord, ArtifactStore
from appliance.services.store.catalog import now_ns
from appliance.services.service_error import ServiceError
from appliance.services.capture.manifest import ClockSnapshot
from appliance.services.capture.recorder import Recorder
from appliance.services.capture.streams import StreamService
from appliance.services.slicing.slices import SliceResult
from appliance.services.slicing.timepoints import TimePointError, sample_at_realtime

SESSION_MIME = "application/vnd.studio.session+json"


class SessionSpec(BaseModel):
    """What session_create takes."""

    model_config = ConfigDict(extra="forbid")

    streams: list[str] = Field(min_length=1, description="stream uris to group")
    mode: Literal["passive", "request_response"] = "passive"
    name: str | None = Field(None, max_length=200)
    midi_out: str | None = Field(None, description="request_response: where MIDI goes (a rawmidi path or device)")
    audio_in: str | None = Field(None, description="request_response: the stream that records the answer")

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must not name a stream twice")
        return value

    @model_validator(mode="after")
    def _request_response(self) -> "SessionSpec":
        if self.mode == "request_response":
            if not self.midi_out or not self.audio_in:
                raise ValueError("mode request_response needs midi_out and audio_in")
            if self.audio_in not in self.streams:
                raise ValueError(f"audio_in {self.audio_in!r} must be one of the session's streams")
        return self


class SegmentEdges(ResultModel):
    start_sample: int
    end_sample: int | None = Field(description="null while the segment is open")


class SegmentInfo(ResultModel):
    number: int
    started_ns: int
    stopped_ns: int | None = Field(description="null while the segment is open")
    streams: dict[str, SegmentEdges] = Field(description="per stream uri, the segment's frames on it")


class SessionStatus(ResultModel):
    session: str
    name: str
    mode: Literal["passive", "request_response"]
    status: Literal["Recording", "Stopped"]
    streams: list[str]
    midi_out: str | None
    audio_in: str | None
    segments: list[SegmentInfo]
    clock_snapshots: dict[str, list[ClockSnapshot]] = Field(
        description="per stream uri, its clock snapshots from a second before the session's first segment on")
    artifact_id: str | None = Field(description="the session artifact, once the session is stopped")
    created_ns: int
    stopped_ns: int | None


class SessionList(ResultModel):
    sessions: list[SessionStatus]


class ExportedFile(SliceResult):
    stream: str = Field(description="the stream uri it was cut from")
    channels: list[int] | None = Field(None, description="the audio channels in the file (a stem has one); null "
                                                         "for MIDI")
    name: str = Field("", description="a file name for it: the stream, and a stem's channel name (or chN)")


class SessionExport(ResultModel):
    session: str
    segment: int | None = Field(description="null: the whole session")
    files: list[ExportedFile]


@dataclass
class Segment:
    number: int
    started_ns: int
    stopped_ns: int | None
    edges: dict[str, tuple[int, int | None]]  # stream -> (start sample, end sample)

    def info(self) -> SegmentInfo:
        return SegmentInfo(number=self.number, started_ns=self.started_ns, stopped_ns=self.stopped_ns,
                           streams={uri: SegmentEdges(start_sample=a, end_sample=b)
                                    for uri, (a, b) in self.edges.items()})


EXPORT_WAIT_S = 5.0  # a segment that just ended may be a head interval ahead of what is readable


class SessionService:
    def __init__(self, db: sqlite3.Connection, store: ContentStore, streams: StreamService,
                 artifacts: ArtifactStore) -> None:
        self.db, self.store, self.streams, self.artifacts = db, store, streams, artifacts
        self._started_by: dict[str, set[str]] = {}  # session -> streams it started
        streams.use_session_edges(self.edge)

    def create(self, spec: SessionSpec) -> SessionStatus:
        for uri in spec.streams:
            self.streams.recorder(uri)
        session_id = "ses-" + secrets.token_hex(6)
        self.db.execute(
            "INSERT INTO sessions (id, name, mode, status, streams_json, midi_out, audio_in, created_ns)"
            " VALUES (?, ?, ?, 'Stopped', ?, ?, ?, ?)",
            (session_id, spec.name or session_id, spec.mode, json.dumps(spec.streams), spec.midi_out, spec.audio_in,
             now_ns()))
        return self.status(session_id)

    async def play(self, session_id: str) -> SessionStatus:
        row = self._row(session_id)
        uris = json.loads(row["streams_json"])
        started = self._started_by.setdefault(session_id, set())
        for uri in uris:
            if not self.streams.recorder(uri).recording:
                await self.streams.start(uri)
                started.add(uri)
        stamp = time.time_ns()
        self._close_open_segment(session_id, stamp)
        number = self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM segments WHERE session_id=?",
                                 (session_id,)).fetchone()[0]
        self.db.execute("INSERT INTO segments (session_id, number, started_ns) VALUES (?, ?, ?)",
                        (session_id, number, stamp))
        for uri in uris:
            self.db.execute("INSERT INTO segment_edges (session_id, number, stream_uri, start_sample)"
                            " VALUES (?, ?, ?, ?)", (session_id, number, uri, self._sample_now(uri, stamp)))
        self.db.execute("UPDATE sessions SET status='Recording', stopped_ns=NULL WHERE id=?", (session_id,))
        return self.status(session_id)

    async def stop(self, session_id: str) -> SessionStatus:
        row = self._row(session_id)
        if row["status"] != "Recording":
            raise ServiceError("conflict", f"session {session_id} is not recording (play it first)")
        stamp = time.time_ns()
        for uri in sorted(self._started_by.pop(session_id, set())):
            if self.streams.recorder(uri).recording:
                await self.streams.stop(uri)
        self._close_open_segment(session_id, stamp)
        artifact = self._store_artifact(session_id, row["artifact_id"])
        self.db.execute("UPDATE sessions SET status='Stopped', stopped_ns=?, artifact_id=? WHERE id=?",
                        (stamp, artifact.id, session_id))
        return self.status(session_id)

    def status(self, session_id: str) -> SessionStatus:
        row = self._row(session_id)
        uris = json.loads(row["streams_json"])
        segments = self.segments(session_id)
        first = min((s.started_ns for s in segments), default=row["created_ns"])
        clocks = {uri: [c for c in self.streams.recorder(uri).manifest.clocks
                        if c.realtime_ns >= first - 1_000_000_000] for uri in uris}
        return SessionStatus(session=row["id"], name=row["name"], mode=row["mode"], status=row["status"],
                             streams=uris, midi_out=row["midi_out"], audio_in=row["audio_in"],
                             segments=[s.info() for s in segments], clock_snapshots=clocks,
                             artifact_id=row["artifact_id"], created_ns=row["created_ns"],
                             stopped_ns=row["stopped_ns"])

    def every(self) -> list[SessionStatus]:
        rows = self.db.execute("SELECT id FROM sessions ORDER BY created_ns DESC").fetchall()
        return [self.status(r["id"]) for r in rows]

    def segments(self, session_id: str) -> list[Segment]:
        segments = []
        for seg in self.db.execute("SELECT * FROM segments WHERE session_id=? ORDER BY number", (session_id,)):
            edges = {e["stream_uri"]: (e["start_sample"], e["end_sample"]) for e in self.db.execute(
                "SELECT * FROM segment_edges WHERE session_id=? AND number=?", (session_id, seg["number"]))}
            segments.append(Segment(seg["number"], seg["started_ns"], seg["stopped_ns"], edges))
        return segments

    async def wait_readable(self, session_id: str, segment: int | None, stream: str) -> None:
        """Wait (briefly) until `stream` is readable to the end of the session or segment: it may have just ended."""
        end = self.edge(session_id, segment, "end", stream)
        rec = self.streams.recorder(stream)
        deadline = time.monotonic() + EXPORT_WAIT_S
        while rec.head_sample < end:
            if not rec.recording or time.monotonic() > deadline:
                raise ServiceError("unavailable", f"{stream}: recorded up to sample {rec.head_sample}, "
                                                  f"the segment ends at {end}; export again shortly")
            await asyncio.sleep(0.05)

    def edge(self, session_id: str, segment: int | None, edge: str, stream: str) -> int:
        """The sample where a session (or one segment of it) starts or ends on `stream`."""
        segments = self.segments(self._row(session_id)["id"])
        if not segments:
            raise ServiceError("notFound", f"session {session_id} has no segments yet (session_play opens one)")
        chosen: Segment | None
        if segment is None:
            chosen = segments[0] if edge == "start" else segments[-1]
        else:
            chosen = next((s for s in segments if s.number == segment), None)
            if chosen is None:
                raise ServiceError("notFound", f"session {session_id}: segment {segment} does not exist "
                                               f"(segments: {', '.join(str(s.number) for s in segments)})")
        if stream not in chosen.edges:
            raise ServiceError("badRequest", f"session {session_id} does not record {stream} "
                                             f"(streams: {', '.join(sorted(chosen.edges))})")
        start, end = chosen.edges[stream]
        if edge == "start":
            return start
        if end is None:
            raise ServiceError("conflict", f"session {session_id} segment {chosen.number} is still open: "
                                           "its end is not known yet (use \"now\")")
        return end

    # -- internals ---------------------------------------------------------
    def _row(self, session_id: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None:
            raise ServiceError("notFound", f"session: no session {session_id!r}")
        return row

    def _sample_now(self, uri: str, realtime_ns: int) -> int:
        """Where `realtime_ns` falls on the stream: from its clocks, else its head (a stream just started)."""
        rec: Recorder = self.streams.recorder(uri)
        try:
            sample = max(sample_at_realtime(rec.manifest, realtime_ns), 0)
        except TimePointError:
            return rec.head_sample
        # A stream that stopped ends where it stopped, even if the clock says a moment later.
        return sample if rec.recording else min(sample, rec.head_sample)

    def _close_open_segment(self, session_id: str, stamp: int) -> None:
        open_seg = self.db.execute("SELECT number FROM segments WHERE session_id=? AND stopped_ns IS NULL",
                                   (session_id,)).fetchone()
        if open_seg is None:
            return
        number = open_seg["number"]
        for edge in self.db.execute("SELECT stream_uri, start_sample FROM segment_edges WHERE session_id=? AND number=?",
                                    (session_id, number)).fetchall():
            end = max(self._sample_now(edge["stream_uri"], stamp), edge["start_sample"])
            self.db.execute("UPDATE segment_edges SET end_sample=? WHERE session_id=? AND number=? AND stream_uri=?",
                            (end, session_id, number, edge["stream_uri"]))
        self.db.execute("UPDATE segments SET stopped_ns=? WHERE session_id=? AND number=?", (stamp, session_id, number))

    def _store_artifact(self, session_id: str, previous: str | None) -> ArtifactRecord:
        status = self.status(session_id)
        manifests, chunks = {}, []
        for uri in status.streams:
            rec = self.streams.recorder(uri)
            manifests[uri] = {"manifest_hash": self.store.put(rec.manifest.to_json()),
                              "definition_hash": rec.manifest.definition_digest}
            for seg in status.segments:
                window = seg.streams[uri]
                chunks += [c.digest for c in rec.manifest.chunks
                           if c.first_sample < (window.end_sample or c.end_sample) and
                           c.end_sample > window.start_sample]
        metadata = {"session": session_id, "name": status.name, "mode": status.mode,
                    "segments": [s.model_dump() for s in status.segments], "streams": manifests}
        return self.artifacts.add(content_hash=None, mime=SESSION_MIME, tags=["session"], parent_id=previous,
                                  metadata=metadata, chunks=chunks)
