"""The agent's door: MCP over streamable HTTP at `/mcp`, with a bearer-token lock.

Built on the official SDK's `MCPServer`, with its tool listing and calling
taken over by our registry and worker hub, so tools defined as data (and the
tools vibeweaver registers at run time) appear with their JSON schemas and
annotations. Live state is served as resources with update notifications, both
on `subscriptions/listen` streams (2026 clients) and to `resources/subscribe`
(2025 clients). Slow local tools report progress. `/healthz` and
`/artifacts/<id>` are mounted in the same app.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import math
import socket
import threading
import time
from typing import Any

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated, ToolsListChanged
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import (INVALID_PARAMS, AudioContent, CallToolResult, EmptyResult, ImageContent, ResourceLink,
                       SubscribeRequestParams, TextContent, ToolAnnotations, UnsubscribeRequestParams)
from mcp_types import Tool as MCPTool
from starlette.applications import Starlette
from starlette.routing import Route

from appliance import __version__
from appliance.config import Config
from appliance.services.agent.host_check import HostCheck
from appliance.services.agent.live_resources import DESCRIPTIONS, LiveResources
from appliance.services.service_error import ServiceError
from appliance.services.agent.registry import ToolOutput, ToolRegistry
from appliance.services.agent.sdk_seams import serve_resource_subscriptions, use_tool_input_schemas
from appliance.services.agent.worker_hub import WorkerHub

INSTRUCTIONS = (
    "The studio box records everything its Eurorack hardware plays. Define and start streams "
    "(stream_create, stream_start), then cut any moment into a sound file with stream_slice using time "
    "points like {\"seconds_ago\": 30} and \"now\". weave_* tools run Python in a persistent kernel. "
    "Subscribe to studio://streams, studio://sessions and studio://transport instead of polling."
)
PROGRESS_INTERVAL_S = 0.1  # at most ten progress notifications a second per call
NOTIFY_TIMEOUT_S = 2.0  # a 2025-era subscriber that does not take a notification this fast is dropped

log = logging.getLogger(__name__)


class StaticToken:
    """A TokenVerifier for the box's one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="studio-agent", scopes=[])
        return None


class ProgressRelay:
    """Carries a tool's `progress(done, total)` calls, made on any thread, to the client in order and throttled."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._last = -math.inf
        self._tail: asyncio.Task[None] | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        with self._lock:
            if done < total and now - self._last < PROGRESS_INTERVAL_S:
                return  # the final report always goes out
            self._last = now
        self._loop.call_soon_threadsafe(self._enqueue, done, total)

    def _enqueue(self, done: int, total: int) -> None:
        self._tail = self._loop.create_task(self._send(self._tail, done, total))

    async def _send(self, previous: asyncio.Task[None] | None, done: int, total: int) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self._context.report_progress(done, total)
        except Exception as exc:  # the client went away mid-call; the call itself decides what that means
            log.debug("progress notification not delivered: %s", exc)

    async def drain(self) -> None:
        """Wait until every report so far is sent, so none trails the tool's result.

        A report made on a worker thread was queued on the loop before that thread's result was, so by the
        time the tool returns here every report is already in the chain.
        """
        if self._tail is not None:
            await asyncio.wait([self._tail])


class StudioMCP(MCPServer):
    def __init__(self, config: Config, token: str, registry: ToolRegistry, hub: WorkerHub,
                 live: LiveResources) -> None:
        base = f"http://{_url_host(config.mcp.bind)}:{config.mcp.port}"
        # Our own bus, handed to the SDK, so live-state updates are published through a reference we hold.
        self.bus = InMemorySubscriptionBus()
        super().__init__(
            name="studio", version=__version__, instructions=INSTRUCTIONS, token_verifier=StaticToken(token),
            auth=AuthSettings(issuer_url=base, resource_server_url=f"{base}/mcp", validate_token_resource=False),
            log_level="WARNING", subscriptions=self.bus,
        )
        self.registry = registry
        self.hub = hub
        self.config = config
        self.live = live
        self._subscribers: dict[str, set[ServerSession]] = {}  # 2025-era resources/subscribe, per uri
        self._announcing: set[asyncio.Task[None]] = set()
        for uri, description in DESCRIPTIONS.items():
            self.add_resource(FunctionResource(uri=uri, name=uri.removeprefix("studio://"), description=description,
                                               mime_type="application/json", fn=lambda uri=uri: live.read_json(uri)))
        serve_resource_subscriptions(self, self._subscribe, self._unsubscribe)
        use_tool_input_schemas(self, self._input_schema)

    def tools_changed(self) -> None:
        """vibeweaver registered or left: tell listening clients to list the tools again (its weave_* tools)."""
        task = asyncio.get_running_loop().create_task(self.bus.publish(ToolsListChanged()))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def resource_updated(self, uri: str) -> None:
        """Tell every subscriber of `uri` that it changed."""
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session in list(self._subscribers.get(uri, ())):
            try:
                await asyncio.wait_for(session.send_resource_updated(uri), NOTIFY_TIMEOUT_S)
            except Exception as exc:  # a gone or stuck client: forget it, it re-subscribes when it returns
                log.info("dropping a subscriber of %s: %r", uri, exc)
                self._subscribers[uri].discard(session)

    async def _subscribe(self, ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
        self._subscribers.setdefault(_live_uri(str(params.uri)), set()).add(ctx.session)
        return EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams) -> EmptyResult:
        self._subscribers.get(_live_uri(str(params.uri)), set()).discard(ctx.session)
        return EmptyResult()

    async def list_tools(self) -> list[MCPTool]:
        tools = [MCPTool(name=t.name, description=t.description, input_schema=t.input_schema(),
                         output_schema=t.output_schema(), annotations=ToolAnnotations(**t.annotations()))
                 for t in self.registry.tools.values()]
        for remote in self.hub.remote.values():
            note = "" if remote.peer else f" ({remote.service} is restarting: calls fail until it is back)"
            tools.append(MCPTool(name=remote.name, description=remote.description + note,
                                 input_schema=remote.input_schema or {"type": "object"},
                                 output_schema=remote.output_schema,
                                 annotations=ToolAnnotations(**remote.annotations) if remote.annotations else None))
        return tools

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None,
                         context: Context | None = None) -> Any:
        # The SDK answers an unknown name with a ValueError, which its dispatcher logs as a traceback and
        # sends as "Internal server error": a client's mistake is neither, so it is refused here by name.
        known = [prompt.name for prompt in await self.list_prompts()]
        if name not in known:
            message = f"name: no prompt {name!r}; prompts: {', '.join(known) or 'none'}"
            log.info("prompts/get refused: %s", message)
            raise MCPError(INVALID_PARAMS, message)
        return await super().get_prompt(name, arguments, context)

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        if name in self.registry.tools:
            return self.registry.tools[name].input_schema()
        remote = self.hub.remote.get(name)
        return remote.input_schema if remote else None

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> CallToolResult:
        relay = ProgressRelay(context) if context is not None else None
        try:
            output = await self.hub.call(name, arguments, relay)
        except ServiceError as exc:
            raise ToolError(exc.message) from None
        finally:
            if relay is not None:
                await relay.drain()
        return CallToolResult(content=self._content(output, context), structured_content=output.structured,
                              is_error=False)

    def _content(self, output: ToolOutput, context: Context | None
                 ) -> list[TextContent | ImageContent | AudioContent | ResourceLink]:
        content: list[TextContent | ImageContent | AudioContent | ResourceLink] = [
            TextContent(type="text", text=output.text)]
        content += [ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png")
                    for png in output.images]
        content += [AudioContent(type="audio", data=base64.b64encode(wav).decode(), mime_type="audio/wav")
                    for wav in output.audio]
        base = self._base_url(context)
        content += [ResourceLink(type="resource_link", uri=base + link.path, name=link.name, mime_type=link.mime,
                                 size=link.bytes, description=link.description) for link in output.links]
        return content

    def _base_url(self, context: Context | None) -> str:
        """Where the client reached this endpoint (scheme, host, port), so a link works from where it is; the
        configured address when the call came on no HTTP request."""
        request = context.request_context.request if context is not None else None
        reached = getattr(request, "base_url", None)  # a Starlette Request on the streamable HTTP transport
        if reached is not None:
            return str(reached).rstrip("/")
        return f"http://{_url_host(self.config.mcp.bind)}:{self.config.mcp.port}"

    def app(self, extra_routes: list[Route]) -> Starlette:
        for route in extra_routes:
            self.custom_route(route.path, sorted(route.methods or ()), name=route.name)(route.endpoint)
        # The SDK's Host check takes names fixed at start; HostCheck decides per request (see host_check.py).
        app = self.streamable_http_app(
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            host=self.config.mcp.bind)
        app.add_middleware(HostCheck, extra_names=self.config.mcp.allowed_hosts)
        return app


def _live_uri(uri: str) -> str:
    if uri not in DESCRIPTIONS:
        raise MCPError(INVALID_PARAMS, f"uri: {uri!r} cannot be subscribed to; resources: {', '.join(DESCRIPTIONS)}")
    return uri


def _url_host(bind: str) -> str:
    if bind in ("0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{bind}]" if ":" in bind else bind
