"""The MCP tools vibeweaver serves through hootenanny: definitions, argument checks, dispatch.

Arguments are validated before anything runs; a bad one gets a tool error
naming the field and what is allowed, never a half-done change.
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


class HelpArguments(_Arguments):
    topic: Literal["overview", "api", "session", "scheduler", "examples"] = Field(
        "overview", description="one of overview, api, session, scheduler, examples")


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[_Arguments]
    annotations: dict[str, Any]

    def definition(self) -> dict[str, str]:
        """The `ToolDefinition` sent with READY."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema["additionalProperties"] = False
        return {"name": self.name, "description": self.description, "inputSchemaJson": json.dumps(schema),
                "annotationsJson": json.dumps(self.annotations)}


TOOLS = {tool.name: tool for tool in (
    Tool("weave_eval", "Run Python in vibeweaver's persistent kernel (globals persist between calls; top-level "
         "await works). Returns {result, stdout, stderr, success, error, execution_count}. The kernel API "
         "(tempo, play, sample, latent, schedule, marker, @on_beat, ...) is described by weave_help.",
         EvalArguments, {"title": "Run a kernel cell", "readOnlyHint": False, "destructiveHint": False,
                         "openWorldHint": True}),
    Tool("weave_session", "What to know to resume after losing context: session, vibe, tempo, transport, beat, "
         "active rules, markers, recent history, running jobs, recent artifacts.",
         SessionArguments, {"title": "Session summary", "readOnlyHint": True}),
    Tool("weave_reset", "Clear the kernel's globals (builtins and the API stay); with clear_session=true also "
         "delete the session's rules, markers, history and vibe.",
         ResetArguments, {"title": "Reset the kernel", "readOnlyHint": False, "destructiveHint": True}),
    Tool("weave_help", "Documentation of the kernel: topics overview, api, session, scheduler, examples.",
         HelpArguments, {"title": "Kernel help", "readOnlyHint": True}),
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
    if isinstance(arguments, EvalArguments):
        return await _eval(weaver, arguments.code)
    if isinstance(arguments, SessionArguments):
        summary = weaver.summary(arguments.history)
        text = (f"session {summary['session']['name']}: {summary['transport']['state']} at beat "
                f"{summary['beat']:g}, {summary['tempo']:g} bpm, {len(summary['rules'])} active rules, "
                f"{len(summary['markers'])} markers")
        return ToolResult.of(summary, text)
    if isinstance(arguments, ResetArguments):
        result = await weaver.reset(arguments.clear_session)
        text = "globals cleared" + (" and session cleared" if arguments.clear_session else "")
        return ToolResult.of(result, text)
    topic = arguments.topic
    return ToolResult.of({"topic": topic, "topics": list(TOPICS), "text": help_text(topic)}, help_text(topic))


async def _eval(weaver: Weaver, code: str) -> ToolResult:
    result = await weaver.eval(code)
    value = {"result": result.result, "stdout": result.stdout, "stderr": result.stderr, "success": result.success,
             "error": result.error, "execution_count": result.execution_count}
    parts = [result.stdout.rstrip("\n"), result.stderr.rstrip("\n")]
    parts.append(result.error if result.error else (result.result if result.result is not None else ""))
    text = "\n".join(p for p in parts if p) or f"[{result.execution_count}] ok"
    return ToolResult.of(value, text)
