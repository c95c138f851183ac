"""The job tools: `sample()` work started on the box, its status, and artifacts registered from outside."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.jobs import SPACES, JobService, JobStarted, JobStatus, SampleRequest
from appliance.services.store.artifacts import ArtifactStore, RegisteredArtifact


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


def add_job_tools(registry: ToolRegistry, jobs: JobService, artifacts: ArtifactStore) -> None:
    async def job_sample(args: SampleArgs) -> ToolOutput:
        started = jobs.submit(SampleRequest(args.space, args.prompt, args.inference, args.tags))
        return ToolOutput(started, f"{started.job_id} started in space {started.space}")

    async def job_status(args: JobArgs) -> ToolOutput:
        status = jobs.status(args.job_id)
        return ToolOutput(status, f"{args.job_id}: {status.state}")

    async def artifact_register(args: RegisterArgs) -> ToolOutput:
        artifact = artifacts.add(content_hash=args.content_hash, mime=args.mime, tags=args.tags,
                                 parent_id=args.parent_id, metadata=args.metadata)
        return ToolOutput(artifact.registered(), f"registered {artifact.id}")

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
