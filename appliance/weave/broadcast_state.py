"""KernelState: what the kernel knows of the box, kept current from broadcasts between evals.

Written by the I/O thread as broadcasts arrive, read by cells on the kernel
thread, snapshotted to sqlite as a Cap'n Proto `KernelState` so a restarted
vibeweaver knows its session, tempo and recent artifacts before the first
broadcast arrives.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Any

from appliance.proto import codec
from appliance.proto.artifact_messages import ArtifactCreated
from appliance.proto.job_messages import JobEvent
from appliance.proto.transport_messages import BeatTick, Marker, TransportStateChanged

RECENT_ARTIFACTS = 100
JOBS_KEPT = 100
TRANSPORT_STATES = ("stopped", "playing", "paused")


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact on the box: what `sample()` returns and `@on_artifact` rules see."""

    id: str
    content_hash: str = ""
    mime: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    state: str  # pending, running, complete, failed, cancelled
    space: str = ""
    artifact_id: str = ""
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("complete", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class StateView:
    """A consistent copy of the state at one moment."""

    session_id: str
    session_name: str
    vibe: str
    transport: str
    tempo_bpm: float
    beat: float
    jobs: tuple[JobInfo, ...]
    recent_artifacts: tuple[Artifact, ...]
    updated_ns: int


@dataclass
class KernelState:
    """The live state; `apply` folds in one broadcast. Thread-safe."""

    session_id: str = ""
    session_name: str = ""
    vibe: str = ""
    transport: str = "stopped"
    tempo_bpm: float = 120.0
    beat: float = 0.0
    jobs: OrderedDict[str, JobInfo] = field(default_factory=OrderedDict)
    recent_artifacts: deque[Artifact] = field(default_factory=lambda: deque(maxlen=RECENT_ARTIFACTS))
    updated_ns: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, message: object) -> bool:
        """Fold in one broadcast (its value as `typed_bodies` types it); False when it is not about anything the
        kernel tracks."""
        with self._lock:
            if isinstance(message, BeatTick):
                self.beat, self.tempo_bpm = message.beat, message.tempo_bpm or self.tempo_bpm
            elif isinstance(message, TransportStateChanged):
                self.transport, self.beat = message.state, message.beat
                self.tempo_bpm = message.tempo_bpm or self.tempo_bpm
            elif isinstance(message, Marker):  # a MARKER_REACHED: the transport is at least there
                self.beat = max(self.beat, message.beat)
            elif isinstance(message, JobEvent):
                self._job(JobInfo(message.job_id, message.state, message.space, message.artifact_id, message.error))
            elif isinstance(message, ArtifactCreated):
                self._artifact(Artifact(message.artifact_id, message.content_hash, message.mime, message.tags))
            else:
                return False
            self.updated_ns = time.time_ns()
            return True

    def _job(self, job: JobInfo) -> None:
        known = self.jobs.pop(job.id, None)
        if known is not None:
            # Progress events may leave out what an earlier event said.
            job = replace(job, space=job.space or known.space, artifact_id=job.artifact_id or known.artifact_id)
        self.jobs[job.id] = job
        while len(self.jobs) > JOBS_KEPT:
            self.jobs.popitem(last=False)

    def track_job(self, job: JobInfo) -> None:
        """Record a job this process started or ran itself."""
        with self._lock:
            self._job(job)
            self.updated_ns = time.time_ns()

    def _artifact(self, artifact: Artifact) -> None:
        # The same artifact may be announced twice (registered here, then broadcast); keep the newest.
        for known in self.recent_artifacts:
            if known.id == artifact.id:
                self.recent_artifacts.remove(known)
                break
        self.recent_artifacts.append(artifact)

    def add_artifact(self, artifact: Artifact) -> None:
        with self._lock:
            self._artifact(artifact)
            self.updated_ns = time.time_ns()

    def set_session(self, session_id: str, name: str, vibe: str) -> None:
        with self._lock:
            self.session_id, self.session_name, self.vibe = session_id, name, vibe
            self.updated_ns = time.time_ns()

    def artifact(self, artifact_id: str) -> Artifact | None:
        with self._lock:
            return next((a for a in reversed(self.recent_artifacts) if a.id == artifact_id), None)

    def job(self, job_id: str) -> JobInfo | None:
        with self._lock:
            return self.jobs.get(job_id)

    def view(self) -> StateView:
        with self._lock:
            return StateView(self.session_id, self.session_name, self.vibe, self.transport, self.tempo_bpm,
                             self.beat, tuple(self.jobs.values()), tuple(self.recent_artifacts), self.updated_ns)

    # -- snapshots ---------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The state as a Cap'n Proto KernelState message."""
        view = self.view()
        return codec.pack(codec.vibeweaver.KernelState, {
            "sessionId": view.session_id, "sessionName": view.session_name, "vibe": view.vibe,
            "transport": view.transport, "tempoBpm": view.tempo_bpm, "beat": view.beat,
            "jobs": [{"id": j.id, "state": j.state, "space": j.space, "artifactId": j.artifact_id,
                      "error": j.error} for j in view.jobs],
            "recentArtifacts": [{"id": a.id, "contentHash": a.content_hash, "mime": a.mime, "tags": list(a.tags)}
                                for a in view.recent_artifacts],
            "updatedNs": view.updated_ns,
        })

    def restore(self, data: bytes) -> None:
        """Load a snapshot taken by `snapshot` (raises codec.BodyError if it is not one)."""
        value: dict[str, Any] = codec.unpack(codec.vibeweaver.KernelState, data)
        with self._lock:
            self.session_id, self.session_name, self.vibe = value["sessionId"], value["sessionName"], value["vibe"]
            self.transport, self.tempo_bpm, self.beat = value["transport"], value["tempoBpm"], value["beat"]
            self.jobs.clear()
            for job in value["jobs"]:
                self._job(JobInfo(job["id"], job["state"], job["space"], job["artifactId"], job["error"]))
            self.recent_artifacts.clear()
            self.recent_artifacts.extend(Artifact(a["id"], a["contentHash"], a["mime"], tuple(a["tags"]))
                                         for a in value["recentArtifacts"])
            self.updated_ns = value["updatedNs"]
