"""The agent's surface as data: every tool with its argument model, annotations and handler.

The MCP endpoint and the ZMQ `toolCall` path (CLI, vibeweaver) both call
tools through here, so validation and error wording are the same on both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from appliance.proto.stream_definition import explain
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slicer import Progress


@dataclass(frozen=True)
class ToolOutput:
    structured: dict[str, Any]
    text: str
    images: list[bytes] = field(default_factory=list)  # PNG pictures for the agent to look at


Handler = Callable[..., Awaitable[ToolOutput]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    handler: Handler
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    reports_progress: bool = False  # the handler takes `progress=` (None when the caller does not listen)

    def input_schema(self) -> dict[str, Any]:
        return self.arguments.model_json_schema()

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
            return await tool.handler(args, progress=progress)
        return await tool.handler(args)


def as_wire_result(output: ToolOutput) -> dict[str, Any]:
    return {"structuredJson": json.dumps(output.structured), "text": output.text, "isError": False}
