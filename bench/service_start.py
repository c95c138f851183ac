"""hootenanny's start at native speed: exec to the first answered MCP `initialize`, against a bare SDK server.

What the box's boot waits for is hootenanny's start, and under qemu's TCG
(`image_boot.py`) that start runs some fifteen times slower than here. This
measures it on the machine's own CPU: the CPU seconds (user + system, from
`/proc/<pid>/stat`) and wall seconds from exec until an MCP `initialize` is
answered with the server's info, for hootenanny (`studio hootenanny`, fresh data directory)
and for a bare SDK `MCPServer` with one tool under uvicorn (the peer in
`mcp_latency.py`). Starts alternate, STARTS of each; the medians compare. The
ratio says how much our own code (config, catalog, recovery, tools, ZMQ) adds
on top of what any server built on the MCP SDK pays to start.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.mcp_latency import _free_port, initialize_answered
from bench.report import figure

STARTS = 5
TOKEN = "bench-token-0123456789abcdef0123"
START_TIMEOUT_S = 60.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_until_answered(argv: list[str], env: dict[str, str], port: int, token: str | None) -> tuple[float, float]:
    """Start `argv`, poll its MCP `initialize` every 10 ms; (CPU s, wall s) when it is answered."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < START_TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv}: exited {proc.returncode} before answering")
            if initialize_answered(f"http://127.0.0.1:{port}/mcp", token):
                return cpu_seconds(proc.pid), time.monotonic() - started
            time.sleep(0.01)
        raise RuntimeError(f"{argv}: no MCP answer in {START_TIMEOUT_S:.0f} s")
    finally:
        proc.terminate()
        proc.wait(15)


def hootenanny_start(root: Path) -> tuple[float, float]:
    data = Path(tempfile.mkdtemp(prefix="data", dir=root))
    port = _free_port()
    env = {**os.environ, "STUDIO_DATA_DIR": str(data), "STUDIO_RUN_DIR": str(data / "run"),
           "STUDIO_MCP_PORT": str(port), "STUDIO_MCP_TOKEN": TOKEN}
    return start_until_answered([sys.executable, "-m", "appliance.cli", "hootenanny"], env, port, TOKEN)


def bare_start() -> tuple[float, float]:
    port = _free_port()
    return start_until_answered([sys.executable, "-m", "bench.mcp_latency", "bare", str(port)], dict(os.environ),
                                port, None)


def main() -> None:
    ours: list[tuple[float, float]] = []
    peer: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="startb") as tmp:
        for _ in range(STARTS):
            ours.append(hootenanny_start(Path(tmp)))
            peer.append(bare_start())
    for index, what, unit in ((0, "CPU", "s"), (1, "wall", "s")):
        figure(f"hootenanny start to first MCP answer ({what})", statistics.median(s[index] for s in ours),
               statistics.median(s[index] for s in peer), "bare SDK MCPServer", unit, higher_is_better=False)


if __name__ == "__main__":
    main()
