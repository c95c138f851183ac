"""What vibeweaver's tools answer with: one model per result, sent with READY as the tool's outputSchema.

The Weaver builds the session summary and a reset's answer, the tools the
others; a tool sends its result's JSON as it is, so what hootenanny and the
agent read is what the model declares.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from appliance.weave.help_topics import HelpTopic


class ResultModel(BaseModel):
    """A result has exactly the keys its model names, and is not changed once made."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PictureInfo(ResultModel):
    """The picture a cell showed; its PNG is the tool result's image content, not part of this JSON."""

    width: int = Field(description="pixels")
    height: int = Field(description="pixels")
    bytes: int = Field(description="size of the PNG")
    title: str = Field(description="what it shows, e.g. 'spectrogram' for analyze()'s pictures; '' when unnamed")


class EvalResult(ResultModel):
    result: str | None = Field(description="repr of the cell's last expression; null when there is none")
    stdout: str
    stderr: str
    success: bool
    error: str | None = Field(description="why the cell failed (its exception, or the interruption); "
                                          "null when it succeeded")
    execution_count: int
    picture: PictureInfo | None = Field(None, description="when the last expression is a picture (a PIL image, a "
                                        "matplotlib figure, analyze()'s picture): its size; the PNG comes as "
                                        "image content beside this result. null otherwise")
    picture_refused: str | None = Field(None, description="why the last expression's picture was not returned "
                                        "(too big, or it failed to draw); the cell still succeeded")


class SessionInfo(ResultModel):
    id: str
    name: str
    created_at: float = Field(description="Unix time")


class TransportInfo(ResultModel):
    state: Literal["stopped", "playing", "paused"]
    tempo: float
    beat: float


class RuleInfo(ResultModel):
    id: str
    name: str
    trigger: dict[str, Any]
    action: dict[str, Any] = Field(description="the action; a python action's source is left out")
    priority: Literal["critical", "high", "normal", "low", "idle"]
    enabled: bool
    one_shot: bool
    fired_count: int
    last_fired_at: float | None
    last_error: str | None


class MarkerInfo(ResultModel):
    name: str
    beat: float
    metadata: dict[str, Any]


class HistoryInfo(ResultModel):
    kind: str = Field(description="eval, rule, rule_error, notify or job")
    execution_count: int | None
    rule_id: str | None
    code: str | None
    result: str | None
    success: bool
    error: str | None
    stdout: str = Field(description="the last 500 characters")
    created_at: float = Field(description="Unix time")


class RunningJob(ResultModel):
    id: str
    state: str = Field(description="pending or running (finished jobs are left out)")
    space: str
    artifact_id: str
    error: str


class RecentArtifact(ResultModel):
    id: str
    mime: str
    tags: list[str]


class SessionSummary(ResultModel):
    """What to know to pick up where an agent (this one or another) left off."""

    session: SessionInfo
    vibe: str
    tempo: float
    transport: TransportInfo
    beat: float
    rules: list[RuleInfo] = Field(description="the enabled rules")
    disabled_rules: list[RuleInfo]
    markers: list[MarkerInfo]
    history: list[HistoryInfo] = Field(description="the newest entries, oldest first")
    jobs: list[RunningJob]
    recent_artifacts: list[RecentArtifact] = Field(description="the last ten")
    spaces: list[str] = Field(description="what sample() takes as space")
    execution_count: int
    sessions: list[str] = Field(description="every session's name")


class ResetResult(ResultModel):
    globals_cleared: bool
    session_cleared: bool
    session: str
    rules: int = Field(description="the session's rules after the reset")


class HelpResult(ResultModel):
    topic: HelpTopic
    topics: list[str]
    text: str
