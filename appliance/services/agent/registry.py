"""The agent's surface as data: every tool with its argument model, result model, annotations and handler.

The MCP endpoint and the ZMQ `toolCall` path (CLI, vibeweaver) both call
tools through here, so validation and error wording are the same on both.
A result is an instance of its tool's result model (checked on the way
out), so what a tool declares as its outputSchema is what clients get.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, RootModel, ValidationError

from appliance.proto.stream_definition import explain
from appliance.proto.tool_messages import ToolResult
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slicer import Progress

log = logging.getLogger(__name__)


class Forwarded(RootModel[dict[str, Any]]):
    """The result of a tool a worker serves (vibeweaver), as its JSON: the worker checked it against its schema."""


@dataclass(frozen=True)
class Download:
    """A file the box serves over HTTP, offered to the client as a link (MCP `ResourceLink`)."""

    path: str  # e.g. /artifacts/<id>, on the host and port the client reached the MCP endpoint at
    name: str
    mime: str
    bytes: int
    description: str


@dataclass(frozen=True)
class ToolOutput:
    result: BaseModel  # for a local tool, an instance of the tool's `result` model; Forwarded for a worker's
    text: str
    images: list[bytes] = field(default_factory=list)  # PNG pictures for the agent to look at
    audio: list[bytes] = field(default_factory=list)  # WAV excerpts for the agent to listen to
    # Links to whole files: a client that drops audio content (many do) can still fetch what it was cut from.
    links: list[Download] = field(default_factory=list)

    @property
    def structured(self) -> dict[str, Any]:
        """The result as clients get it: the JSON of the result model."""
        dumped: dict[str, Any] = self.result.model_dump(mode="json")
        return dumped


Handler = Callable[..., Awaitable[ToolOutput]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    result: type[BaseModel]  # the shape of `ToolOutput.structured`, published as the tool's outputSchema
    handler: Handler
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    reports_progress: bool = False  # the handler takes `progress=` (None when the caller does not listen)

    def input_schema(self) -> dict[str, Any]:
        return self.arguments.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.result.model_json_schema()

    def annotations(self) -> dict[str, Any]:
        return {"readOnlyHint": self.read_only, "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent, "openWorldHint": False}


class ToolRegistry:
    def __init__(self) -> None:
        self.tools: dict[str, Tool] = {}

    def add(self, tool: Tool) -> None:
        if tool.name in self.tools:
            raise ValueError(f"tool {tool.name} registered twice")
        self.tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        tool = self.tools.get(name)
        if tool is None:
            raise ServiceError("notFound", f"no tool {name!r}; tools: {', '.join(sorted(self.tools))}")
        return tool

    def parse(self, tool: Tool, arguments: dict[str, Any] | str) -> BaseModel:
        try:
            if isinstance(arguments, str):
                return tool.arguments.model_validate_json(arguments or "{}")
            return tool.arguments.model_validate(arguments)
        except ValidationError as exc:
            raise ServiceError("badRequest", f"{tool.name}: {explain(exc)}") from None

    async def call(self, name: str, arguments: dict[str, Any] | str, progress: Progress | None = None) -> ToolOutput:
        tool = self.get(name)
        args = self.parse(tool, arguments)
        if tool.reports_progress:
            output = await tool.handler(args, progress=progress)
        else:
            output = await tool.handler(args)
        _check_result(tool, output)
        return output


def _check_result(tool: Tool, output: ToolOutput) -> None:
    """Refuse a result that is not the tool's own model: its outputSchema is that model's schema."""
    if not isinstance(output.result, tool.result):
        log.error("%s returned a %s, not its outputSchema's %s", tool.name, type(output.result).__name__,
                  tool.result.__name__)
        raise ServiceError("internal", f"{tool.name}: returned a {type(output.result).__name__}, not its "
                                       f"outputSchema's {tool.result.__name__}; this is a bug in the box")


def as_wire_result(output: ToolOutput) -> ToolResult:
    """A tool's output for a caller on the worker socket (the CLI, the kernel's analyze), pictures included."""
    return ToolResult(structured_json=json.dumps(output.structured), text=output.text, images=tuple(output.images))
