"""The MCP tools vibeweaver serves through hootenanny: definitions, argument checks, dispatch.

Arguments are validated before anything runs; a bad one gets a tool error
naming the field and what is allowed, never a half-done change. Each tool
declares its result model, sent with READY as its output schema, and every
result is checked against it before it leaves.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.weave.help_topics import TOPICS, help_text
from appliance.weave.weaver import Weaver

log = logging.getLogger(__name__)

TEXT_CHARS = 4000


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalArguments(_Arguments):
    code: str = Field(description="Python source of one cell; top-level await works; the last expression's "
                                  "repr is the result")


class SessionArguments(_Arguments):
    history: int = Field(20, ge=0, le=500, description="how many recent history entries to include (0-500)")


class ResetArguments(_Arguments):
    clear_session: bool = Field(False, description="also delete the session's rules, markers, history and vibe")


HelpTopic = Literal["overview", "api", "session", "scheduler", "examples"]


class HelpArguments(_Arguments):
    topic: HelpTopic = Field("overview", description="one of overview, api, session, scheduler, examples")


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvalResult(_Result):
    result: str | None = Field(description="repr of the cell's last expression; null when there is none")
    stdout: str
    stderr: str
    success: bool
    error: str | None = Field(description="why the cell failed (its exception, or the interruption); "
                                          "null when it succeeded")
    execution_count: int


class SessionInfo(_Result):
    id: str
    name: str
    created_at: float = Field(description="Unix time")


class TransportInfo(_Result):
    state: Literal["stopped", "playing", "paused"]
    tempo: float
    beat: float


class RuleInfo(_Result):
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


class MarkerInfo(_Result):
    name: str
    beat: float
    metadata: dict[str, Any]


class HistoryInfo(_Result):
    kind: str = Field(description="eval, rule, rule_error, notify or job")
    execution_count: int | None
    rule_id: str | None
    code: str | None
    result: str | None
    success: bool
    error: str | None
    stdout: str = Field(description="the last 500 characters")
    created_at: float = Field(description="Unix time")


class RunningJob(_Result):
    id: str
    state: str = Field(description="pending or running (finished jobs are left out)")
    space: str
    artifact_id: str
    error: str


class RecentArtifact(_Result):
    id: str
    mime: str
    tags: list[str]


class SessionSummary(_Result):
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


class ResetResult(_Result):
    globals_cleared: bool
    session_cleared: bool
    session: str
    rules: int = Field(description="the session's rules after the reset")


class HelpResult(_Result):
    topic: HelpTopic
    topics: list[str]
    text: str


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[_Arguments]
    result: type[_Result]
    annotations: dict[str, Any]

    def definition(self) -> dict[str, str]:
        """The `ToolDefinition` sent with READY."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema["additionalProperties"] = False
        return {"name": self.name, "description": self.description, "inputSchemaJson": json.dumps(schema),
                "annotationsJson": json.dumps(self.annotations),
                "outputSchemaJson": json.dumps(self.result.model_json_schema())}


TOOLS = {tool.name: tool for tool in (
    Tool("weave_eval", "Run Python in vibeweaver's persistent kernel (globals persist between calls; top-level "
         "await works). Returns {result, stdout, stderr, success, error, execution_count}. The kernel API "
         "(tempo, play, sample, latent, schedule, marker, @on_beat, ...) is described by weave_help.",
         EvalArguments, EvalResult, {"title": "Run a kernel cell", "readOnlyHint": False,
                                     "destructiveHint": False, "openWorldHint": True}),
    Tool("weave_session", "What to know to resume after losing context: session, vibe, tempo, transport, beat, "
         "active rules, markers, recent history, running jobs, recent artifacts.",
         SessionArguments, SessionSummary, {"title": "Session summary", "readOnlyHint": True}),
    Tool("weave_reset", "Clear the kernel's globals (builtins and the API stay); with clear_session=true also "
         "delete the session's rules, markers, history and vibe.",
         ResetArguments, ResetResult,
         {"title": "Reset the kernel", "readOnlyHint": False, "destructiveHint": True}),
    Tool("weave_help", "Documentation of the kernel: topics overview, api, session, scheduler, examples.",
         HelpArguments, HelpResult, {"title": "Kernel help", "readOnlyHint": True}),
)}


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The `toolResult` reply: structured JSON, one short text, and whether it is an error."""

    structuredJson: str  # noqa: N815 - the Cap'n Proto field name
    text: str
    isError: bool  # noqa: N815

    @classmethod
    def of(cls, value: dict[str, Any], text: str, error: bool = False) -> ToolResult:
        return cls(json.dumps(value, default=str), text[:TEXT_CHARS], error)

    def as_body(self) -> dict[str, Any]:
        return asdict(self)


def definitions() -> list[dict[str, str]]:
    return [tool.definition() for tool in TOOLS.values()]


def _argument_error(tool: Tool, exc: ValidationError) -> ToolResult:
    fields = tool.arguments.model_fields
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "extra_forbidden":
            problems.append(f"{name}: unknown argument; allowed arguments: {', '.join(fields)}")
            continue
        allowed = fields[name].description if name in fields else None
        problems.append(f"{name}: {err['msg']}" + (f" (allowed: {allowed})" if allowed else ""))
    message = f"{tool.name}: " + "; ".join(problems)
    return ToolResult.of({"error": message, "fields": [str(e["loc"][0]) for e in exc.errors() if e["loc"]]},
                         message, error=True)


async def call(weaver: Weaver, name: str, arguments_json: str) -> ToolResult:
    """Validate and run one tool call."""
    tool = TOOLS.get(name)
    if tool is None:
        message = f"unknown tool {name!r}; vibeweaver serves {', '.join(TOOLS)}"
        return ToolResult.of({"error": message}, message, error=True)
    try:
        raw = json.loads(arguments_json or "{}")
    except json.JSONDecodeError as exc:
        message = f"{name}: arguments are not valid JSON ({exc.msg})"
        return ToolResult.of({"error": message}, message, error=True)
    if not isinstance(raw, dict):
        message = f"{name}: arguments must be a JSON object"
        return ToolResult.of({"error": message}, message, error=True)
    try:
        arguments = tool.arguments.model_validate(raw)
    except ValidationError as exc:
        return _argument_error(tool, exc)
    value, text = await _run(weaver, arguments)
    return _checked(tool, value, text)


async def _run(weaver: Weaver, arguments: _Arguments) -> tuple[dict[str, Any], str]:
    """The tool's structured result and its text."""
    if isinstance(arguments, EvalArguments):
        return await _eval(weaver, arguments.code)
    if isinstance(arguments, SessionArguments):
        summary = weaver.summary(arguments.history)
        text = (f"session {summary['session']['name']}: {summary['transport']['state']} at beat "
                f"{summary['beat']:g}, {summary['tempo']:g} bpm, {len(summary['rules'])} active rules, "
                f"{len(summary['markers'])} markers")
        return summary, text
    if isinstance(arguments, ResetArguments):
        result = await weaver.reset(arguments.clear_session)
        return result, "globals cleared" + (" and session cleared" if arguments.clear_session else "")
    assert isinstance(arguments, HelpArguments)  # the one tool left
    topic = arguments.topic
    return {"topic": topic, "topics": list(TOPICS), "text": help_text(topic)}, help_text(topic)


def _checked(tool: Tool, value: dict[str, Any], text: str) -> ToolResult:
    """The reply, once its JSON is what the tool's output schema promises.

    Checked strictly as the JSON hootenanny and the agent get, then sent unchanged;
    a result that drifted from its model is a bug, answered as a tool error that says so.
    """
    reply = ToolResult.of(value, text)
    try:
        tool.result.model_validate_json(reply.structuredJson, strict=True)
    except ValidationError as exc:
        message = (f"{tool.name}: the result does not match the tool's outputSchema ({exc}); "
                   "this is a bug in vibeweaver")
        log.error("%s", message)
        return ToolResult.of({"error": message}, message, error=True)
    return reply


async def _eval(weaver: Weaver, code: str) -> tuple[dict[str, Any], str]:
    result = await weaver.eval(code)
    value = {"result": result.result, "stdout": result.stdout, "stderr": result.stderr, "success": result.success,
             "error": result.error, "execution_count": result.execution_count}
    parts = [result.stdout.rstrip("\n"), result.stderr.rstrip("\n")]
    parts.append(result.error if result.error else (result.result if result.result is not None else ""))
    text = "\n".join(p for p in parts if p) or f"[{result.execution_count}] ok"
    return value, text
