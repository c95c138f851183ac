"""The job tools: `sample()` work started on the box, its status, and artifacts registered from outside."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from appliance.services.agent.registry import ResultModel, Tool, ToolOutput, ToolRegistry
from appliance.services.agent.tools.capture import ArtifactInfo
from appliance.services.jobs import SPACES, JobService, SampleRequest
from appliance.services.store.artifacts import ArtifactStore


class SampleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    space: str = Field(description=f"one of {', '.join(SPACES)}")
    prompt: str = Field("", description="capture: the stream uri (default: the first recording audio stream)")
    inference: dict[str, Any] = Field(default_factory=dict,
                                      description="capture: start/end time points; pattern: PatternSpec fields, "
                                                  "and optionally session (request_response) and tail_seconds")
    tags: list[str] = Field(default_factory=list)


class JobArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str


class RegisterArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_hash: str
    mime: str = Field(min_length=3, max_length=200)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None


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


class RegisteredArtifact(ArtifactInfo):
    artifact_id: str = Field(description="the same as id")


def add_job_tools(registry: ToolRegistry, jobs: JobService, artifacts: ArtifactStore) -> None:
    async def job_sample(args: SampleArgs) -> ToolOutput:
        job_id = jobs.submit(SampleRequest(args.space, args.prompt, args.inference, args.tags))
        return ToolOutput({"job_id": job_id, "space": args.space}, f"{job_id} started in space {args.space}")

    async def job_status(args: JobArgs) -> ToolOutput:
        row = jobs.status(args.job_id)
        return ToolOutput(row, f"{args.job_id}: {row['state']}")

    async def artifact_register(args: RegisterArgs) -> ToolOutput:
        artifact = artifacts.add(content_hash=args.content_hash, mime=args.mime, tags=args.tags,
                                 parent_id=args.parent_id, metadata=args.metadata)
        return ToolOutput({"artifact_id": artifact.id, **artifact.public()}, f"registered {artifact.id}")

    for tool in (
        Tool("job_sample", "Start sample() work on the box: space capture (slice a stream) or pattern (MIDI "
             "pattern generator). Completion arrives as job. broadcasts; job_status polls.", SampleArgs, JobStarted,
             job_sample),
        Tool("job_status", "A job's state, artifact and error.", JobArgs, JobStatus, job_status, read_only=True,
             idempotent=True),
        Tool("artifact_register", "Make content already sealed in the box's CAS an artifact (generator output).",
             RegisterArgs, RegisteredArtifact, artifact_register),
    ):
        registry.add(tool)
