"""The MCP tools vibeweaver serves through hootenanny: definitions, argument checks, dispatch.

Arguments are validated before anything runs; a bad one gets a tool error
naming the field and what is allowed, never a half-done change. Each tool
declares its result model (`results.py`), sent with READY as its output
schema; a tool answers with an instance of it, whose JSON is the
`toolResult`'s structured content.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.proto.tool_messages import ToolDefinition, ToolResult
from appliance.weave.help_topics import TOPICS, HelpTopic, help_text
from appliance.weave.results import EvalResult, HelpResult, PictureInfo, ResetResult, ResultModel, SessionSummary
from appliance.weave.weaver import Weaver

log = logging.getLogger(__name__)

TEXT_CHARS = 4000


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalArguments(_Arguments):
    code: str = Field(description="Python source of one cell; top-level await works; the last expression's "
                                  "repr is the result, and a picture there comes back as image content")


class SessionArguments(_Arguments):
    history: int = Field(20, ge=0, le=500, description="how many recent history entries to include (0-500)")


class ResetArguments(_Arguments):
    clear_session: bool = Field(False, description="also delete the session's rules, markers, history and vibe")


class HelpArguments(_Arguments):
    topic: HelpTopic = Field("overview", description="one of overview, api, session, scheduler, examples")


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[_Arguments]
    result: type[ResultModel]
    annotations: dict[str, Any]

    def definition(self) -> ToolDefinition:
        """What READY says of this tool."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema["additionalProperties"] = False
        return ToolDefinition(name=self.name, description=self.description, input_schema_json=json.dumps(schema),
                              annotations_json=json.dumps(self.annotations),
                              output_schema_json=json.dumps(self.result.model_json_schema()))


TOOLS = {tool.name: tool for tool in (
    Tool("weave_eval", "Run Python in vibeweaver's persistent kernel (globals persist between calls; top-level "
         "await works). Returns {result, stdout, stderr, success, error, execution_count, picture, "
         "picture_refused}. A cell whose last expression is a picture (a PIL image, a matplotlib figure, "
         "analyze(..., picture=...)['picture']) also returns it as PNG image content. The kernel API "
         "(tempo, play, sample, latent, schedule, marker, analyze, @on_beat, ...) is described by weave_help.",
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


def definitions() -> tuple[ToolDefinition, ...]:
    return tuple(tool.definition() for tool in TOOLS.values())


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
    return _error(message, fields=[str(e["loc"][0]) for e in exc.errors() if e["loc"]])


async def call(weaver: Weaver, name: str, arguments_json: str) -> ToolResult:
    """Validate and run one tool call."""
    tool = TOOLS.get(name)
    if tool is None:
        return _error(f"unknown tool {name!r}; vibeweaver serves {', '.join(TOOLS)}")
    try:
        raw = json.loads(arguments_json or "{}")
    except json.JSONDecodeError as exc:
        return _error(f"{name}: arguments are not valid JSON ({exc.msg})")
    if not isinstance(raw, dict):
        return _error(f"{name}: arguments must be a JSON object")
    try:
        arguments = tool.arguments.model_validate(raw)
    except ValidationError as exc:
        return _argument_error(tool, exc)
    try:
        result, text, images = await _run(weaver, arguments)
    except ValidationError as exc:  # the result's model refused what the Weaver put in it
        return _bug(f"{tool.name}: the result does not match the tool's outputSchema ({exc})")
    return _checked(tool, result, text, images)


async def _run(weaver: Weaver, arguments: _Arguments) -> tuple[ResultModel, str, tuple[bytes, ...]]:
    """The tool's result, its text and its PNG pictures."""
    if isinstance(arguments, EvalArguments):
        return await _eval(weaver, arguments.code)
    if isinstance(arguments, SessionArguments):
        summary = weaver.summary(arguments.history)
        text = (f"session {summary.session.name}: {summary.transport.state} at beat {summary.beat:g}, "
                f"{summary.tempo:g} bpm, {len(summary.rules)} active rules, {len(summary.markers)} markers")
        return summary, text, ()
    if isinstance(arguments, ResetArguments):
        result = await weaver.reset(arguments.clear_session)
        return result, "globals cleared" + (" and session cleared" if arguments.clear_session else ""), ()
    assert isinstance(arguments, HelpArguments)  # the one tool left
    topic = arguments.topic
    return HelpResult(topic=topic, topics=list(TOPICS), text=help_text(topic)), help_text(topic), ()


def _checked(tool: Tool, result: ResultModel, text: str, images: tuple[bytes, ...] = ()) -> ToolResult:
    """The reply, once the result is the model the tool declares as its output schema; its JSON is sent as it is.

    Any other model is a bug, answered as a tool error that says so.
    """
    if not isinstance(result, tool.result):
        return _bug(f"{tool.name}: returned a {type(result).__name__}, not its outputSchema's "
                    f"{tool.result.__name__}")
    return ToolResult(structured_json=result.model_dump_json(), text=text[:TEXT_CHARS], images=images)


def _bug(problem: str) -> ToolResult:
    message = f"{problem}; this is a bug in vibeweaver"
    log.error("%s", message)
    return _error(message)


def _error(message: str, **details: Any) -> ToolResult:
    """A tool error: the message as its text, and as `error` in its structured JSON with any `details`."""
    return ToolResult(structured_json=json.dumps({"error": message, **details}), text=message[:TEXT_CHARS],
                      is_error=True)


async def _eval(weaver: Weaver, code: str) -> tuple[EvalResult, str, tuple[bytes, ...]]:
    result = await weaver.eval(code)
    picture = result.picture
    info = None if picture is None else PictureInfo(width=picture.width, height=picture.height,
                                                    bytes=len(picture.png), title=picture.title)
    value = EvalResult(result=result.result, stdout=result.stdout, stderr=result.stderr, success=result.success,
                       error=result.error, execution_count=result.execution_count, picture=info,
                       picture_refused=result.picture_refused)
    parts = [result.stdout.rstrip("\n"), result.stderr.rstrip("\n")]
    parts.append(result.error if result.error else (result.result if result.result is not None else ""))
    if result.picture_refused:
        parts.append(f"picture not returned: {result.picture_refused}")
    text = "\n".join(p for p in parts if p) or f"[{result.execution_count}] ok"
    return value, text, () if picture is None else (picture.png,)
