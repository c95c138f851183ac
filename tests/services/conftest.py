import pytest

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
