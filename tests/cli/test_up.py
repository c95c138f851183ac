"""`studio up`: three children, a crashed one restarted, Ctrl-C or SIGTERM leaves nothing behind."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.garden import wait_until
from tests.support.mcp_client import mcp_session, mcp_url
from tests.support.stack import _free_port


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_up_runs_restarts_and_stops_cleanly(short_tmp):
    port = _free_port()
    env = {**os.environ, "STUDIO_MCP_PORT": str(port), "STUDIO_RUN_DIR": str(short_tmp / "run")}
    up = subprocess.Popen([sys.executable, "-m", "appliance.cli", "up", "--data-dir", str(short_tmp / "data")],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert up.stdout.readline().startswith(f"MCP   http://127.0.0.1:{port}/mcp")
        token = up.stdout.readline().split()[1]
        assert token == (short_tmp / "data" / "mcp-token").read_text().strip()
        wait_until(lambda: len(children_of(up.pid)) == 3)
        wait_until(lambda: _healthy(port))
        first = children_of(up.pid)
        os.kill(first[0], signal.SIGKILL)  # chaosgarden dies
        wait_until(lambda: len(children_of(up.pid)) == 3 and first[0] not in children_of(up.pid))
        everyone = children_of(up.pid)
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
        assert not [pid for pid in everyone if alive(pid)]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def _healthy(port: int) -> bool:
    try:
        return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx2.HTTPError:
        return False


def test_up_in_a_directory_records_refuses_a_bad_request_in_one_line_and_stops_without_an_error(short_tmp):
    """`studio up` as `make run` starts it: no --data-dir, so ./var, relative to where it was started."""
    port = _free_port()
    env = {**os.environ, "STUDIO_MCP_PORT": str(port)}
    up = subprocess.Popen([sys.executable, "-m", "appliance.cli", "up"], cwd=short_tmp, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert up.stdout.readline().startswith(f"MCP   http://127.0.0.1:{port}/mcp")
        token = up.stdout.readline().split()[1]
        assert up.stdout.readline().split()[1] == str(short_tmp / "var")
        asyncio.run(_records_and_refuses(mcp_url(port), token))
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group gets it
        assert up.wait(30) == 0
        output = up.stdout.read()
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert output.count("prompts/get refused: name: no prompt 'nope'") == 1
    assert "Traceback" not in output and " ERROR " not in output, output


async def _records_and_refuses(url: str, token: str) -> None:
    async with mcp_session(url, token) as client:
        for _ in range(600):
            status = (await client.call_tool("stream_status", {})).structured_content["streams"]
            if any(s["uri"] == "stream://sim/audio" and s["chunks_sealed"] >= 1 for s in status):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the sim audio stream sealed no chunk: {status}")
        with pytest.raises(MCPError, match=r"name: no prompt 'nope'; prompts: none"):
            await client.get_prompt("nope", {})
