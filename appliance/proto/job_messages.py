"""A job's progress as hootenanny announces it, as a typed value.

`broadcast.capnp` defines `JobEvent`, published on `job.<state>` as a job
(`sample()` work on the box) moves on; vibeweaver's `job_complete` rules
and its waiting `sample()` calls hear it. As in `stream_messages`, this module alone
knows its camelCase names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from appliance.proto.codec import WireMessage

JobState = Literal["pending", "running", "complete", "failed", "cancelled"]  # vibeweaver.capnp JobState


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent(WireMessage):
    KIND: ClassVar[str] = "jobEvent"

    job_id: str
    state: JobState
    space: str
    artifact_id: str = ""  # what a complete job made
    error: str = ""  # why a failed job failed
    progress: float = -1.0  # 0..1, or -1 when unknown

    def to_wire(self) -> dict[str, Any]:
        return {"jobId": self.job_id, "state": self.state, "space": self.space, "artifactId": self.artifact_id,
                "error": self.error, "progress": self.progress}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> JobEvent:
        return cls(job_id=wire["jobId"], state=wire["state"], space=wire["space"], artifact_id=wire["artifactId"],
                   error=wire["error"], progress=wire["progress"])
