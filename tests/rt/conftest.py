import pytest

from appliance.cas import ContentStore
from tests.support.garden import ControlPlane, start_garden


@pytest.fixture
def garden_dirs(short_tmp):
    data, run = short_tmp / "data", short_tmp / "run"
    data.mkdir()
    return data, run


@pytest.fixture
def garden_env():
    """Extra environment for the chaosgarden process (tests set HOME for their asoundrc)."""
    return {}


@pytest.fixture
def garden(garden_dirs, garden_env):
    data, run = garden_dirs
    proc = start_garden(data, run, garden_env)
    yield proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()
            proc.wait()


@pytest.fixture
async def control(garden, garden_dirs):
    data, run = garden_dirs
    plane = ControlPlane(run, ContentStore(data / "cas"))
    yield plane
    plane.close()
