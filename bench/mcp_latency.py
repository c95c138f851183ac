"""MCP call latency through the box, against peers measured in the same run.

Trivial tool: p50/p99 of 200 sequential `stream_status` calls over real HTTP
into hootenanny (bearer token, host checks, our registry), against a bare SDK
`MCPServer` with one trivial tool served by uvicorn in its own process; the
same client code drives both. Target: within 1.5x of the bare server.

Kernel: p50/p99 of 200 `weave_eval("1+1")` calls over HTTP -> hootenanny ->
ZMQ -> vibeweaver -> back, against an ipykernel execute round trip ("1+1",
until its execute_result and execute_reply are in hand) through
jupyter_client. Target: p50 below ipykernel's.

Each pair is measured in alternating blocks of 20 calls, so both sides see
the same moments of machine load (a busy two-core box moves a p99 of 200
samples more than any code change). A breakdown follows (the same calls over ZMQ straight into hootenanny, which
skips HTTP and MCP), so a missed target says where the time goes.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2

from bench.report import figure

CALLS = 200
WARMUP = 20
BLOCK = 20
TOKEN = "bench-token-0123456789abcdef0123"
HANG_GUARD_S = 60.0


# -- the peer: a bare SDK server with one trivial tool ---------------------------

def serve_bare(port: int) -> None:
    """Run a bare `MCPServer` with one trivial read-only tool on 127.0.0.1:`port` until killed."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="bare", log_level="WARNING")

    @server.tool()
    def status() -> dict[str, str]:
        """A trivial tool: a constant answer."""
        return {"state": "ok"}

    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "bench", "version": "1"}}}


def initialize_answered(url: str, token: str | None) -> bool:
    """An MCP `initialize` (with the bearer token, if any) answered 200 with the server's info, not an open port."""
    headers = {"Accept": "application/json, text/event-stream", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        response = httpx2.post(url, json=INITIALIZE, headers=headers, timeout=5)
    except httpx2.HTTPError:
        return False
    return response.status_code == 200 and "serverInfo" in response.text


# -- measuring ---------------------------------------------------------------------

Call = Callable[[], Awaitable[object]]


async def interleaved(ours: Call, peer: Call) -> tuple[list[float], list[float]]:
    """Seconds per call for CALLS calls of each, after WARMUP, alternating in blocks of BLOCK."""
    for _ in range(WARMUP):
        await ours()
        await peer()
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(CALLS // BLOCK):
        mine += await _timed(ours, BLOCK)
        theirs += await _timed(peer, BLOCK)
    return mine, theirs


async def _timed(call: Call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def tool_call(client, tool: str, arguments: dict) -> Call:
    """One MCP tool call that must succeed; the same client code for every server."""
    async def call() -> None:
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise SystemExit(f"mcp_latency: {tool} failed: {result.content}")
    return call


def ipykernel_call(client) -> Call:
    async def call() -> None:
        _execute(client, "1+1")  # blocking on purpose: nothing else runs while a sample is taken
    return call


def _execute(client, code: str) -> None:
    msg_id = client.execute(code)
    while True:  # the result comes on iopub; earlier status messages of other requests are skipped
        msg = client.get_iopub_msg(timeout=HANG_GUARD_S)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_result":
            break
    reply = client.get_shell_msg(timeout=HANG_GUARD_S)
    if reply["parent_header"]["msg_id"] != msg_id or reply["content"]["status"] != "ok":
        raise SystemExit(f"mcp_latency: ipykernel did not answer 1+1: {reply['content']}")


def ms(samples: list[float], quantile: int) -> float:
    """The `quantile`th percentile in milliseconds (50 is the median)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[quantile - 1] * 1e3


# -- processes ---------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            if time.monotonic() > deadline:
                raise SystemExit(f"mcp_latency: nothing answered at {url}") from None
            time.sleep(0.05)


async def _kernel_ready(url: str) -> None:
    from tests.support.mcp_client import mcp_session

    async with mcp_session(url, TOKEN) as client:
        for _ in range(int(HANG_GUARD_S / 0.05)):
            if "weave_eval" in {t.name for t in (await client.list_tools()).tools}:
                return
            await asyncio.sleep(0.05)
    raise SystemExit("mcp_latency: vibeweaver never registered weave_eval")


async def _zmq_breakdown(run_dir: Path) -> tuple[list[float], list[float]]:
    """The same two calls over ZMQ straight into hootenanny: the box without HTTP and MCP."""
    from tests.support.stack import ToolClient

    client = ToolClient(run_dir)
    try:
        return await interleaved(lambda: client.call("stream_status"), lambda: client.call("weave_eval", code="1+1"))
    finally:
        client.close()


async def measure(ours_url: str, bare_url: str) -> dict[str, list[float]]:
    """Every series of the report, each pair interleaved."""
    from jupyter_client.manager import start_new_kernel

    from tests.support.mcp_client import mcp_session

    manager, kernel = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
    try:
        async with mcp_session(ours_url, TOKEN) as ours, mcp_session(bare_url, None) as bare:
            status, peer = await interleaved(tool_call(ours, "stream_status", {}), tool_call(bare, "status", {}))
            weave, ipy = await interleaved(tool_call(ours, "weave_eval", {"code": "1+1"}), ipykernel_call(kernel))
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"status": status, "peer": peer, "weave": weave, "ipykernel": ipy}


def main() -> None:
    from tests.support.stack import make_stack

    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mcpb") as tmp:
        stack = make_stack(Path(tmp), {"STUDIO_MCP_TOKEN": TOKEN})
        bare_port = _free_port()
        bare = subprocess.Popen([sys.executable, "-m", "bench.mcp_latency", "bare", str(bare_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for name in ("chaosgarden", "hootenanny", "vibeweaver"):
                stack.start(name)
            ours_url = f"http://127.0.0.1:{stack.env['STUDIO_MCP_PORT']}/mcp"
            bare_url = f"http://127.0.0.1:{bare_port}/mcp"
            _wait_http(ours_url.replace("/mcp", "/healthz"))
            _wait_http(bare_url)
            asyncio.run(_kernel_ready(ours_url))
            report(stack.run_dir, ours_url, bare_url)
        finally:
            bare.terminate()
            bare.wait(15)
            stack.stop_all()


def report(run_dir: Path, ours_url: str, bare_url: str) -> None:
    series = asyncio.run(measure(ours_url, bare_url))
    ours, peer, weave, ipy = series["status"], series["peer"], series["weave"], series["ipykernel"]
    zmq_status, zmq_weave = asyncio.run(_zmq_breakdown(run_dir))
    for q, name in ((50, "p50"), (99, "p99")):
        figure(f"mcp trivial tool (stream_status over HTTP) {name}", ms(ours, q), ms(peer, q),
               "bare SDK MCPServer", "ms", higher_is_better=False, target=1 / 1.5)
    for q, name in ((50, "p50"), (99, "p99")):
        figure(f"mcp weave_eval(\"1+1\") over HTTP {name}", ms(weave, q), ms(ipy, q), "ipykernel execute", "ms",
               higher_is_better=False, target=1.0 if q == 50 else None)
    print(f"  breakdown p50: stream_status over ZMQ {ms(zmq_status, 50):.3f} ms, weave_eval over ZMQ "
          f"{ms(zmq_weave, 50):.3f} ms; HTTP+MCP on top: {ms(ours, 50) - ms(zmq_status, 50):.3f} ms "
          f"(bare SDK server total {ms(peer, 50):.3f} ms)", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        serve_bare(int(sys.argv[2]))
    else:
        main()
