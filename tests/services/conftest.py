import pytest

from tests.support.mcp_client import mcp_url
from tests.support.stack import ToolClient, make_stack


@pytest.fixture
def stack_env():
    return {}


@pytest.fixture
def stack(short_tmp, stack_env):
    s = make_stack(short_tmp, stack_env)
    yield s
    s.stop_all()


@pytest.fixture
async def tools(stack):
    client = ToolClient(stack.run_dir)
    yield client
    client.close()


@pytest.fixture
def url(stack):
    """The MCP URL of a running chaosgarden and hootenanny."""
    stack.start("chaosgarden")
    stack.start("hootenanny")
    return mcp_url(stack.env["STUDIO_MCP_PORT"])
