"""The SDK behaviour appliance/services/agent/sdk_seams.py relies on, pinned against the installed mcp release.

Each seam reaches past MCPServer's public API; if a release moves what it
touches, these fail here with the reason, not somewhere deep in a live test.
The behaviour through real HTTP is covered by test_mcp_live (2025-era
resources/subscribe) and test_mcp (tools with our schemas).
"""

from mcp.server.mcpserver import MCPServer
from mcp_types import EmptyResult

from appliance.services.agent.sdk_seams import serve_resource_subscriptions, use_tool_input_schemas

SCHEMA = {"type": "object", "properties": {"uri": {"type": "string"}}}


async def _subscribe(_ctx, _params):
    return EmptyResult()


def test_resources_subscribe_is_served_and_advertised():
    server = MCPServer(name="seam")
    serve_resource_subscriptions(server, _subscribe, _subscribe)
    lowlevel = server._lowlevel_server
    assert lowlevel.get_request_handler("resources/subscribe") is not None, "the SDK no longer takes the handler"
    assert lowlevel.get_request_handler("resources/unsubscribe") is not None
    capabilities = lowlevel.get_capabilities(None, {})
    assert capabilities.resources is not None and capabilities.resources.subscribe, \
        "the SDK no longer advertises resources.subscribe from the handler"


def test_tool_input_schemas_come_from_our_lookup():
    server = MCPServer(name="seam")
    use_tool_input_schemas(server, lambda name: SCHEMA if name == "stream_slice" else None)
    lookup = server._lowlevel_server.get_tool_input_schema
    assert lookup("stream_slice") == SCHEMA and lookup("nope") is None
