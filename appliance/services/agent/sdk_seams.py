"""The two places where hootenanny reaches past the MCP SDK's public API, kept here and pinned by a test.

Everything else of the SDK (MCPServer, custom routes, the subscriptions bus,
tools and resources) is used through its public surface. These two have no
public door in mcp 2.x:

- `resources/subscribe` and `resources/unsubscribe` for 2025-era clients. The
  lowlevel `Server` takes handlers for them only in its constructor, which
  `MCPServer` calls itself without them, and an `Extension` may not bind a spec
  method. So they are added to the lowlevel server `MCPServer` keeps.
- The input schema of a tool for `Mcp-Param-*` header validation. `MCPServer`
  looks it up in its own tool manager, where our tools (defined as data, and
  vibeweaver's registered at run time) are not; without this the check is
  skipped, with it the box validates those headers like any SDK server.

tests/services/test_sdk_seams.py fails with a clear message if an SDK release
moves either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

Subscribe = Callable[[ServerRequestContext[Any], SubscribeRequestParams], Awaitable[EmptyResult]]
Unsubscribe = Callable[[ServerRequestContext[Any], UnsubscribeRequestParams], Awaitable[EmptyResult]]


def serve_resource_subscriptions(server: MCPServer, subscribe: Subscribe, unsubscribe: Unsubscribe) -> None:
    """Serve the 2025-era `resources/subscribe` and `resources/unsubscribe` (and advertise `subscribe`)."""
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


def use_tool_input_schemas(server: MCPServer, lookup: Callable[[str], Mapping[str, Any] | None]) -> None:
    """Let the transport validate `Mcp-Param-*` headers against our tools' schemas."""
    server._lowlevel_server.get_tool_input_schema = lookup
