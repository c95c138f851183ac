"""The tool-call messages between hootenanny and its workers and clients, as typed values.

`envelope.capnp` defines them on the wire: a `toolCall` request (from the
`studio` CLI, from vibeweaver's box calls, or forwarded by hootenanny to the
worker serving the tool) answered by a `toolResult`. The codec decodes a body
into a dict of camelCase names; this module is the one place that knows
those names: each type's `to_wire` builds the dict the codec packs, and
`typed_bodies.typed_value` turns a decoded body back into its type. Everything outside
`appliance.proto` handles these types only.

Frozen dataclasses rather than pydantic models, as in `stream_messages`: a
body is already checked against its schema when the codec decodes it. The
arguments and the structured result travel as JSON text; the tool they name
checks them against its own models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from appliance.proto.codec import WireMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall(WireMessage):
    """Call tool `name` with the arguments in `arguments_json` (a JSON object)."""

    KIND: ClassVar[str] = "toolCall"

    name: str
    arguments_json: str

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "argumentsJson": self.arguments_json}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ToolCall:
        return cls(name=wire["name"], arguments_json=wire["argumentsJson"])


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult(WireMessage):
    """A tool's answer: its structured result as JSON, one short text, whether it is an error, and PNG pictures.

    The pictures travel beside the JSON, not in it, because MCP gives them to
    the agent as image content (which a model looks at), not as text.
    """

    KIND: ClassVar[str] = "toolResult"

    structured_json: str  # "" or "{}" when there is none
    text: str
    is_error: bool = False
    images: tuple[bytes, ...] = ()  # PNG

    def to_wire(self) -> dict[str, Any]:
        return {"structuredJson": self.structured_json, "text": self.text, "isError": self.is_error,
                "images": list(self.images)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ToolResult:
        return cls(structured_json=wire["structuredJson"], text=wire["text"], is_error=wire["isError"],
                   images=tuple(wire["images"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDefinition:
    """One tool a worker serves, as MCP lists it: its schemas travel as JSON text."""

    name: str
    description: str
    input_schema_json: str
    annotations_json: str
    output_schema_json: str = ""  # "": none declared (a worker from before output schemas)

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputSchemaJson": self.input_schema_json,
                "annotationsJson": self.annotations_json, "outputSchemaJson": self.output_schema_json}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ToolDefinition:
        return cls(name=wire["name"], description=wire["description"], input_schema_json=wire["inputSchemaJson"],
                   annotations_json=wire["annotationsJson"], output_schema_json=wire.get("outputSchemaJson", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready(WireMessage):
    """A worker's registration (the READY command's body): who it is and which tools it serves."""

    KIND: ClassVar[str] = "ready"

    service: str
    tools: tuple[ToolDefinition, ...]
    pid: int

    def to_wire(self) -> dict[str, Any]:
        return {"service": self.service, "tools": [tool.to_wire() for tool in self.tools], "pid": self.pid}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Ready:
        return cls(service=wire["service"], tools=tuple(ToolDefinition.from_wire(t) for t in wire["tools"]),
                   pid=wire["pid"])


FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    ToolCall.KIND: ToolCall.from_wire,
    ToolResult.KIND: ToolResult.from_wire,
    Ready.KIND: Ready.from_wire,
}
