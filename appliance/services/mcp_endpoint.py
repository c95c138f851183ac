"""The agent's door: MCP over streamable HTTP at `/mcp`, with a bearer-token lock.

Built on the official SDK's `MCPServer`, with its tool listing and calling
taken over by our registry and worker hub, so tools defined as data (and the
tools vibeweaver registers at run time) appear with their JSON schemas and
annotations. `/healthz` and `/artifacts/<id>` are mounted in the same app.
"""

from __future__ import annotations

import base64
import hmac
import socket
from typing import Any

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from mcp_types import Tool as MCPTool
from starlette.applications import Starlette
from starlette.routing import Route

from appliance import __version__
from appliance.config import Config
from appliance.services.service_error import ServiceError
from appliance.services.tool_registry import ToolRegistry
from appliance.services.worker_hub import WorkerHub

INSTRUCTIONS = (
    "The studio box records everything its Eurorack hardware plays. Define and start streams "
    "(stream_create, stream_start), then cut any moment into a sound file with stream_slice using time "
    "points like {\"seconds_ago\": 30} and \"now\". weave_* tools run Python in a persistent kernel."
)


class StaticToken:
    """A TokenVerifier for the box's one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="studio-agent", scopes=[])
        return None


class StudioMCP(MCPServer):
    def __init__(self, config: Config, token: str, registry: ToolRegistry, hub: WorkerHub) -> None:
        base = f"http://{_url_host(config.mcp.bind)}:{config.mcp.port}"
        super().__init__(
            name="studio", version=__version__, instructions=INSTRUCTIONS, token_verifier=StaticToken(token),
            auth=AuthSettings(issuer_url=base, resource_server_url=f"{base}/mcp", validate_token_resource=False),
            log_level="WARNING",
        )
        self.registry = registry
        self.hub = hub
        self.config = config

    async def list_tools(self) -> list[MCPTool]:
        tools = [MCPTool(name=t.name, description=t.description, input_schema=t.input_schema(),
                         annotations=ToolAnnotations(**t.annotations())) for t in self.registry.tools.values()]
        for remote in self.hub.remote.values():
            note = "" if remote.peer else f" ({remote.service} is restarting: calls fail until it is back)"
            tools.append(MCPTool(name=remote.name, description=remote.description + note,
                                 input_schema=remote.input_schema or {"type": "object"},
                                 annotations=ToolAnnotations(**remote.annotations) if remote.annotations else None))
        return tools

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        if name in self.registry.tools:
            return self.registry.tools[name].input_schema()
        remote = self.hub.remote.get(name)
        return remote.input_schema if remote else None

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> CallToolResult:
        try:
            output = await self.hub.call(name, arguments)
        except ServiceError as exc:
            raise ToolError(exc.message) from None
        content: list[TextContent | ImageContent] = [TextContent(type="text", text=output.text)]
        content += [ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png")
                    for png in output.images]
        return CallToolResult(content=content, structured_content=output.structured, is_error=False)

    def app(self, extra_routes: list[Route]) -> Starlette:
        for route in extra_routes:
            self._custom_starlette_routes.append(route)
        security = TransportSecuritySettings(allowed_hosts=allowed_hosts(self.config),
                                             allowed_origins=[f"http://{h}" for h in allowed_hosts(self.config)])
        return self.streamable_http_app(transport_security=security, host=self.config.mcp.bind)


def allowed_hosts(config: Config) -> list[str]:
    """Host headers a LAN client may send: loopback, the box's names and addresses, and configured extras."""
    names = {"127.0.0.1", "localhost", "[::1]", socket.gethostname(), f"{socket.gethostname()}.local",
             *config.mcp.allowed_hosts}
    if config.mcp.bind not in ("0.0.0.0", "::"):
        names.add(_url_host(config.mcp.bind))
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            address = info[4][0]
            names.add(f"[{address}]" if ":" in address else address)
    except OSError:
        pass
    return sorted({f"{name}:*" for name in names} | names)


def _url_host(bind: str) -> str:
    if bind in ("0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{bind}]" if ":" in bind else bind
