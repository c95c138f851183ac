"""Jobs: `sample()` work done on the box, announced on `job.` broadcasts.

Spaces here: `capture` (slice a stream: prompt names the stream, inference
gives `start`/`end` time points) and `pattern` (the built-in MIDI pattern
generator: inference holds `appliance.patterns.PatternSpec` fields; with a
`session` that is in request_response mode, the pattern is played to the
hardware and the job's artifact is the recorded answer, child of the MIDI). A job
runs as a task; its artifact is announced on `artifact.` before the job's
`complete` event, so a waiter that sees completion can find the artifact.
`submit` answers `job_sample` (a `JobStarted`), `status` answers `job_status`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from appliance.patterns import PatternError, PatternSpec, render
from appliance.proto.job_messages import JobEvent, JobState
from appliance.services.capture.streams import StreamService
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.sessions.request_response import RequestResponse
from appliance.services.slicing.slices import Slicer
from appliance.services.store.artifacts import ArtifactStore
from appliance.services.store.catalog import now_ns

log = logging.getLogger(__name__)

SPACES = ("capture", "pattern")
Publish = Callable[[str, str, Any], None]  # topic, kind, value (Publisher.publish)


@dataclass(frozen=True)
class SampleRequest:
    """What `sample()` asks of the box: a space, a prompt, the space's inference fields, tags for the artifact."""

    space: str
    prompt: str = ""
    inference: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


class JobStarted(ResultModel):
    job_id: str
    space: str


class JobStatus(ResultModel):
    id: str
    space: str
    state: Literal["pending", "running", "complete", "failed"]
    artifact_id: str | None = Field(description="what the job made, once it is complete")
    error: str = Field(description="why it failed; empty otherwise")
    progress: float = Field(description="-1: not reported")
    created_ns: int
    updated_ns: int


class JobService:
    def __init__(self, db: sqlite3.Connection, publish: Publish, artifacts: ArtifactStore, streams: StreamService,
                 slicer: Slicer, request_response: RequestResponse) -> None:
        self.db, self.publish, self.artifacts, self.streams, self.slicer = db, publish, artifacts, streams, slicer
        self.request_response = request_response
        self._tasks: set[asyncio.Task[None]] = set()
        self.db.execute("UPDATE jobs SET state='failed', error='hootenanny restarted while it ran'"
                        " WHERE state IN ('pending', 'running')")

    def submit(self, args: SampleRequest) -> JobStarted:
        work = self._work(args)  # bad arguments fail here, before a job exists
        job_id = "job-" + secrets.token_hex(6)
        stamp = now_ns()
        self.db.execute("INSERT INTO jobs (id, space, state, created_ns, updated_ns) VALUES (?, ?, 'pending', ?, ?)",
                        (job_id, args.space, stamp, stamp))
        self._event(job_id, args.space, "pending")
        task = asyncio.ensure_future(self._run(job_id, args.space, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JobStarted(job_id=job_id, space=args.space)

    def status(self, job_id: str) -> JobStatus:
        row = self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise ServiceError("notFound", f"job_id: no job {job_id!r}")
        return JobStatus(id=row["id"], space=row["space"], state=row["state"], artifact_id=row["artifact_id"],
                         error=row["error"], progress=row["progress"], created_ns=row["created_ns"],
                         updated_ns=row["updated_ns"])

    def _work(self, args: SampleRequest) -> Callable[[], Awaitable[str]]:
        if args.space == "capture":
            return self._capture_work(args)
        if args.space == "pattern":
            fields = dict(args.inference)
            session = fields.pop("session", None)
            tail = fields.pop("tail_seconds", 1.0)
            try:
                spec = PatternSpec.from_inference(fields)
            except (PatternError, TypeError) as exc:
                raise ServiceError("badRequest", f"inference: {exc}") from None
            if session is not None:  # checked now, so a wrong session fails the call instead of the job
                if not isinstance(tail, int | float) or not 0 <= tail <= 60:
                    raise ServiceError("badRequest", f"inference: tail_seconds must be from 0 to 60; got {tail!r}")
                self.request_response.check_session(str(session))
            return lambda: self._pattern(spec, args, session, tail)
        raise ServiceError("badRequest", f"space: {args.space!r} is not a box space; spaces here: {', '.join(SPACES)}")

    def _capture_work(self, args: SampleRequest) -> Callable[[], Awaitable[str]]:
        uri = args.prompt or next((u for u, r in self.streams.recorders.items()
                                   if r.recording and r.definition.kind.value == "audio"), "")
        if not uri:
            raise ServiceError("badRequest", "prompt: name the stream to capture from (no audio stream is recording)")
        unknown = sorted(set(args.inference) - {"start", "end"})
        if unknown:
            raise ServiceError("badRequest", f"inference: capture takes start and end; not {unknown[0]!r}")
        start, end = args.inference.get("start", {"seconds_ago": 4}), args.inference.get("end", "now")
        self.streams.recorder(uri)

        async def capture() -> str:
            return (await self.slicer.slice(uri, start, end, tags=["capture", *args.tags])).artifact_id

        return capture

    async def _pattern(self, spec: PatternSpec, args: SampleRequest, session: str | None, tail: float) -> str:
        data = render(spec)
        digest = await asyncio.to_thread(self.artifacts.store.put, data)
        artifact = self.artifacts.add(content_hash=digest, mime="audio/midi", tags=["pattern", *args.tags],
                                      metadata={"pattern": {**args.inference}, "prompt": args.prompt})
        if session is None:
            return artifact.id
        answer = await self.request_response.request(session, artifact_id=artifact.id, tail_seconds=tail,
                                                     tags=["pattern", *args.tags])
        return answer.audio_artifact_id

    async def _run(self, job_id: str, space: str, work: Callable[[], Awaitable[str]]) -> None:
        self._set(job_id, "running")
        self._event(job_id, space, "running")
        try:
            artifact_id = await work()
        except ServiceError as exc:
            self._set(job_id, "failed", error=exc.message)
            self._event(job_id, space, "failed", error=exc.message)
            return
        except Exception as exc:
            log.exception("job %s (%s) failed", job_id, space)
            self._set(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
            self._event(job_id, space, "failed", error=str(exc))
            return
        self._set(job_id, "complete", artifact_id=artifact_id)
        self._event(job_id, space, "complete", artifact_id=artifact_id)

    def _set(self, job_id: str, state: str, *, artifact_id: str | None = None, error: str = "") -> None:
        self.db.execute("UPDATE jobs SET state=?, artifact_id=COALESCE(?, artifact_id), error=?, updated_ns=?"
                        " WHERE id=?", (state, artifact_id, error, now_ns(), job_id))

    def _event(self, job_id: str, space: str, state: JobState, *, artifact_id: str = "", error: str = "") -> None:
        self.publish(f"job.{state}", JobEvent.KIND,
                     JobEvent(job_id=job_id, state=state, space=space, artifact_id=artifact_id, error=error))
