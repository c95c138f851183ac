"""A rule is data: a trigger, an action, a priority. Validated here, stored in sqlite, run by the scheduler.

`python` actions carry the decorated function's own source text, so a rule
made by `@on_beat(4)` comes back after a restart even though globals do not.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class Priority(enum.IntEnum):
    """Lower runs first when several rules fire on the same event."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    IDLE = 4

    @classmethod
    def parse(cls, value: str | Priority) -> Priority:
        if isinstance(value, Priority):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            allowed = ", ".join(p.name.lower() for p in cls)
            raise ValueError(f"priority must be one of {allowed}; got {value!r}") from None

    @property
    def deadline_margin(self) -> float:
        """How much earlier than the estimate deadline work starts: 1.5x critical, 1.2x high, else 1.0x."""
        return {Priority.CRITICAL: 1.5, Priority.HIGH: 1.2}.get(self, 1.0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BeatTrigger(_Model):
    type: Literal["beat"]
    every: float = Field(gt=0, description="fire on every multiple of this many beats")
    offset: float = Field(0.0, ge=0, description="shift within the cycle, in beats")


class MarkerTrigger(_Model):
    type: Literal["marker"]
    name: str = Field(min_length=1)


class DeadlineTrigger(_Model):
    type: Literal["deadline"]
    beat: float = Field(ge=0, description="the beat by which the work must be done")
    space: str = Field("", description="whose timing stats estimate the work's duration")


class ArtifactTrigger(_Model):
    type: Literal["artifact"]
    tag: str = Field(min_length=1)


class JobTrigger(_Model):
    type: Literal["job_complete"]
    space: str = Field("", description="only jobs of this space; empty: any")
    job_id: str = Field("", description="only this job; empty: any")


class TransportTrigger(_Model):
    type: Literal["transport"]
    state: Literal["playing", "paused", "stopped", "any"] = "any"


Trigger = Annotated[
    BeatTrigger | MarkerTrigger | DeadlineTrigger | ArtifactTrigger | JobTrigger | TransportTrigger,
    Field(discriminator="type"),
]


class SampleAction(_Model):
    type: Literal["sample"]
    space: str = Field(min_length=1)
    prompt: str = ""
    inference: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


class ScheduleAction(_Model):
    type: Literal["schedule"]
    artifact_id: str = Field("", description="empty: the artifact that triggered the rule")
    at: float | None = Field(None, ge=0, description="beat; empty: the next bar")
    duration: float | None = Field(None, gt=0, description="beats; empty: the whole artifact")
    gain: float = Field(1.0, ge=0, le=4)


class SampleAndScheduleAction(_Model):
    type: Literal["sample_and_schedule"]
    space: str = Field(min_length=1)
    prompt: str = ""
    inference: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    at: float | None = Field(None, ge=0)
    duration: float | None = Field(None, gt=0)
    gain: float = Field(1.0, ge=0, le=4)


class TransportAction(_Model):
    type: Literal["play", "pause", "stop"]


class SeekAction(_Model):
    type: Literal["seek"]
    beat: float = Field(ge=0)


class AuditionAction(_Model):
    type: Literal["audition"]
    artifact_id: str = Field("", description="empty: the artifact that triggered the rule")
    duration: float | None = Field(None, gt=0, description="seconds")


class NotifyAction(_Model):
    type: Literal["notify"]
    message: str


class PythonAction(_Model):
    type: Literal["python"]
    function: str = Field(min_length=1)
    source: str = Field(min_length=1)


Action = Annotated[
    SampleAction | ScheduleAction | SampleAndScheduleAction | TransportAction | SeekAction | AuditionAction
    | NotifyAction | PythonAction,
    Field(discriminator="type"),
]

_triggers: TypeAdapter[Any] = TypeAdapter(Trigger)
_actions: TypeAdapter[Any] = TypeAdapter(Action)

TRIGGER_TYPES = ("beat", "marker", "deadline", "artifact", "job_complete", "transport")
ACTION_TYPES = ("sample", "schedule", "sample_and_schedule", "play", "pause", "stop", "seek", "audition",
                "notify", "python")


class RuleError(ValueError):
    """A trigger or action that does not validate; the message names the field and what is allowed."""


def _validate(adapter: TypeAdapter[Any], what: str, value: dict[str, Any], kinds: tuple[str, ...]) -> Any:
    if not isinstance(value, dict) or value.get("type") not in kinds:
        got = value.get("type") if isinstance(value, dict) else value
        raise RuleError(f"{what}.type must be one of {', '.join(kinds)}; got {got!r}")
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise RuleError("; ".join(_explain(what, err) for err in exc.errors())) from None


def _explain(what: str, err: Any) -> str:
    # Drop the union tag pydantic puts first in the location ("beat", "schedule", ...).
    where = ".".join(str(p) for p in (what, *err["loc"][1:]))
    return f"{where}: {err['msg']}"


def parse_trigger(value: dict[str, Any]) -> Any:
    return _validate(_triggers, "trigger", value, TRIGGER_TYPES)


def parse_action(value: dict[str, Any]) -> Any:
    return _validate(_actions, "action", value, ACTION_TYPES)


@dataclass
class Rule:
    """One rule of one session, as stored."""

    session_id: str
    name: str
    trigger: Any
    action: Any
    priority: Priority = Priority.NORMAL
    enabled: bool = True
    one_shot: bool = False
    fired_count: int = 0
    last_fired_at: float | None = None
    last_error: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: float = field(default_factory=time.time)

    @classmethod
    def make(cls, session_id: str, name: str, trigger: dict[str, Any], action: dict[str, Any],
             priority: str | Priority = Priority.NORMAL, one_shot: bool = False) -> Rule:
        """Validate and build a new rule; raise RuleError or ValueError naming the bad field."""
        return cls(session_id, name, parse_trigger(trigger), parse_action(action), Priority.parse(priority),
                   one_shot=one_shot)

    def summary(self) -> dict[str, Any]:
        """What an agent sees of a rule (the source of python actions is left out)."""
        action = self.action.model_dump()
        action.pop("source", None)
        return {"id": self.id, "name": self.name, "trigger": self.trigger.model_dump(), "action": action,
                "priority": self.priority.name.lower(), "enabled": self.enabled, "one_shot": self.one_shot,
                "fired_count": self.fired_count, "last_fired_at": self.last_fired_at,
                "last_error": self.last_error}
