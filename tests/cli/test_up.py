"""`studio up`: three children, a crashed one restarted, Ctrl-C or SIGTERM leaves nothing behind."""

import os
import signal
import subprocess
import sys
import time

import httpx2

from tests.support.garden import wait_until
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
