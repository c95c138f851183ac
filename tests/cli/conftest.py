"""A running box for the CLI tests: chaosgarden, hootenanny and vibeweaver on the simulated Eurorack."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli.box_link import BoxLink, BoxUnreachable, ToolError
from tests.support.garden import wait_until
from tests.support.stack import Stack, make_stack


@pytest.fixture(scope="module")
def box() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="sc-", dir="/tmp") as root:
        stack = make_stack(Path(root), {"STUDIO_CONFIG_FILES": "/nonexistent/studio.toml",
                                        "STUDIO_CAPTURE_SIM_STREAMS": "true"})
        try:
            for name in ("chaosgarden", "hootenanny", "vibeweaver"):
                stack.start(name)
            wait_until(lambda: _answers(BoxLink(stack.run_dir)), interval=0.1)
            yield stack
        finally:
            stack.stop_all()


def _answers(link: BoxLink) -> bool:
    try:
        link.call("weave_help")
        states = {s["uri"]: s["state"] for s in link.call("stream_status")["streams"]}
        return states == {"stream://sim/audio": "recording", "stream://sim/midi": "recording"}
    except (BoxUnreachable, ToolError):  # its ROUTER binds a moment after the socket start() waits for
        return False


def studio(*args: str, env: dict[str, str], stdin: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=120, **kwargs)
