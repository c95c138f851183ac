"""Run the real processes (chaosgarden, hootenanny, vibeweaver) for a test, and call tools over ZMQ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from appliance.proto import endpoints
from appliance.proto.channel import Channel
from tests.support.garden import wait_until

PROCESSES = {"chaosgarden": "rt", "hootenanny": "hootenanny", "vibeweaver": "vibeweaver"}
READY_SOCKET = {"chaosgarden": endpoints.GARDEN_EVENTS, "hootenanny": endpoints.HOOTENANNY_EVENTS}


class ToolFailed(Exception):
    """A tool answered with an error; `text` is what an agent would read."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def start(self, name: str) -> subprocess.Popen:
        sock = self.run_dir / READY_SOCKET.get(name, "")
        if name in READY_SOCKET and sock.exists():
            sock.unlink()
        log = open(self.root / f"{name}.log", "a")
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", PROCESSES[name]], env=self.env,
                                stdout=log, stderr=log)
        self.procs[name] = proc
        if name in READY_SOCKET:
            wait_until(lambda: sock.exists() or proc.poll() is not None)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start: {self.log(name)}")
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        proc.send_signal(sig)
        proc.wait(30)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def make_stack(root: Path, extra_env: dict[str, str] | None = None, port: int = 0) -> Stack:
    env = {**os.environ, "STUDIO_DATA_DIR": str(root / "data"), "STUDIO_RUN_DIR": str(root / "run"),
           "STUDIO_MCP_PORT": str(port or _free_port()), "STUDIO_WIRE_HEARTBEAT_SECONDS": "0.5",
           **(extra_env or {})}
    (root / "data").mkdir(exist_ok=True)
    return Stack(root, env)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ToolClient:
    """What the CLI does: `toolCall` requests to hootenanny's ROUTER."""

    def __init__(self, run_dir: Path) -> None:
        self.ctx = zmq.asyncio.Context()
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(endpoints.ipc(run_dir, endpoints.HOOTENANNY_WORKERS))
        self.channel = Channel(dealer, name="test-client")
        import asyncio

        self._task = asyncio.ensure_future(self.channel.run())

    async def call(self, tool: str, timeout: float = 30.0, **arguments: Any) -> dict[str, Any]:
        reply = await self.channel.request("toolCall", {"name": tool, "argumentsJson": json.dumps(arguments)},
                                           timeout=timeout, retries=0)
        if reply.value["isError"]:
            raise ToolFailed(reply.value["text"])
        return json.loads(reply.value["structuredJson"])

    def close(self) -> None:
        self._task.cancel()
        self.ctx.destroy(linger=0)
