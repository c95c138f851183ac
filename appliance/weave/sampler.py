"""`sample()`: turn (space, prompt) into an artifact, whichever space it is, and time it.

`capture` and `pattern` are jobs on the box (`job_sample`); their progress
comes back as `job.` broadcasts and the job's completion resolves the wait.
HTTP generator spaces are called directly; their output is sealed into the
CAS and registered with hootenanny as an artifact. Every run's duration goes
into the space's timing stats, which estimate deadline work.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from appliance.cas import ContentStore
from appliance.weave.box_client import BoxClient, BoxError
from appliance.weave.broadcast_state import Artifact, JobInfo, KernelState
from appliance.weave.http_spaces import BUILT_IN_SPACES, HttpSpace
from appliance.weave.session_store import SessionStore

log = logging.getLogger(__name__)


class SampleError(Exception):
    """A sample job failed or was cancelled; raised in the cell that awaits it."""


class Sampler:
    """Runs sample jobs on the I/O loop."""

    def __init__(self, box: BoxClient, state: KernelState, store: SessionStore, http_spaces: dict[str, HttpSpace],
                 cas: ContentStore, job_timeout: float) -> None:
        self.box = box
        self.state = state
        self.store = store
        self.http_spaces = http_spaces
        self.cas = cas
        self.job_timeout = job_timeout
        self._waiters: dict[str, list[asyncio.Future[JobInfo]]] = {}

    @property
    def spaces(self) -> list[str]:
        return [*BUILT_IN_SPACES, *self.http_spaces]

    def check_space(self, space: str) -> None:
        if space not in self.spaces:
            raise ValueError(f"space must be one of {', '.join(self.spaces)}; got {space!r}")

    async def sample(self, space: str, prompt: str = "", inference: dict[str, Any] | None = None,
                     tags: list[str] | None = None) -> Artifact:
        """Generate one artifact in `space`; raise SampleError, BoxError or ValueError."""
        self.check_space(space)
        inference, tags = dict(inference or {}), list(tags or [])
        started = time.monotonic()
        try:
            if space in self.http_spaces:
                artifact = await self._generate(self.http_spaces[space], prompt, inference, tags)
            else:
                artifact = await self._box_job(space, prompt, inference, tags)
        except Exception:
            self.store.record_generation(space, time.monotonic() - started, ok=False)
            raise
        self.store.record_generation(space, time.monotonic() - started)
        return artifact

    async def _box_job(self, space: str, prompt: str, inference: dict[str, Any], tags: list[str]) -> Artifact:
        job_id = await self.box.start_sample_job(space, prompt, inference, tags)
        if self.state.job(job_id) is None:
            self.state.track_job(JobInfo(job_id, "pending", space))
        job = await self._finished(job_id)
        if job.state != "complete":
            raise SampleError(f"job {job_id} in space {space} {job.state}: {job.error or 'no reason given'}")
        return await self._artifact(job.artifact_id)

    async def _finished(self, job_id: str) -> JobInfo:
        known = self.state.job(job_id)
        if known is not None and known.finished:
            return known
        waiter: asyncio.Future[JobInfo] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(waiter)
        try:
            return await asyncio.wait_for(waiter, self.job_timeout)
        except TimeoutError:
            raise SampleError(f"job {job_id}: no completion within {self.job_timeout:g} s "
                              "(weave.generator_timeout_seconds)") from None
        finally:
            waiters = self._waiters.get(job_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(job_id, None)

    def on_job(self, job: JobInfo) -> None:
        """A job event arrived (the state already has it): wake whoever waits for a finished job."""
        if not job.finished:
            return
        for waiter in self._waiters.pop(job.id, []):
            if not waiter.done():
                waiter.set_result(self.state.job(job.id) or job)

    async def _artifact(self, artifact_id: str) -> Artifact:
        known = self.state.artifact(artifact_id)
        if known is not None:
            return known
        try:
            info = await self.box.artifact(artifact_id)
        except BoxError as exc:
            log.info("artifact %s: no details (%s)", artifact_id, exc)
            return Artifact(artifact_id)
        return Artifact(artifact_id, str(info.get("content_hash", "")), str(info.get("mime", "")),
                        tuple(info.get("tags", ())))

    async def _generate(self, space: HttpSpace, prompt: str, inference: dict[str, Any], tags: list[str]) -> Artifact:
        job_id = f"weave-{uuid.uuid4().hex[:12]}"
        self.state.track_job(JobInfo(job_id, "running", space.name))
        try:
            generated = await space.generate(prompt, inference, tags)
            digest = await asyncio.to_thread(self.cas.put, generated.content)
            artifact_id = await self.box.register_artifact(
                str(digest), generated.mime, tags, {"space": space.name, "prompt": prompt, "inference": inference})
        except Exception as exc:
            self.state.track_job(JobInfo(job_id, "failed", space.name, error=str(exc)))
            raise
        artifact = Artifact(artifact_id, str(digest), generated.mime, tuple(tags))
        self.state.track_job(JobInfo(job_id, "complete", space.name, artifact_id))
        self.state.add_artifact(artifact)
        return artifact
