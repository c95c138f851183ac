"""The whole box as the faults scenarios run it: `studio up` on a private data directory.

The sound card is the ALSA `file` plugin reading a FIFO that a
`CounterCard` fills in real time, so every recorded sample says where in
the source it came from. The supervisor restarts whatever a test kills,
as systemd does on the box.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from appliance.cli.box_link import BoxLink, BoxUnreachable, ToolError
from tests.support.alsa import write_asoundrc
from tests.support.garden import wait_until
from tests.support.stack import _free_port

COMMANDS = {"chaosgarden": "rt", "hootenanny": "hootenanny", "vibeweaver": "vibeweaver"}


@dataclass
class Box:
    root: Path
    infile: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None
    port: int = field(default_factory=_free_port)
    up: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir or self.root / "data"
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        self.env = {**os.environ, **write_asoundrc(home, self.infile),
                    "STUDIO_RUN_DIR": str(self.root / "run"), "STUDIO_MCP_PORT": str(self.port),
                    "STUDIO_CAPTURE_SIM_STREAMS": "false", "STUDIO_WIRE_HEARTBEAT_SECONDS": "0.5",
                    "STUDIO_CONFIG_FILES": "/nonexistent/studio.toml", **self.extra_env}
        self.link = BoxLink(self.root / "run")

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_path(self) -> Path:
        return self.root / "up.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def token(self) -> str:
        return (self.data_dir / "mcp-token").read_text().strip()

    def start(self) -> "Box":
        log = open(self.log_path, "a")
        self.up = subprocess.Popen([sys.executable, "-m", "appliance.cli", "up", "--data-dir", str(self.data_dir)],
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # so a stuck box can be killed as a group
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """hootenanny answers tools and HTTP, and vibeweaver has registered its own."""
        wait_until(lambda: self._answers() or self._exited(), timeout=timeout, interval=0.1)
        if self._exited():
            raise RuntimeError(f"studio up exited: {self.log()[-2000:]}")

    def _answers(self) -> bool:
        try:
            self.link.call("weave_help", timeout=2)
            return httpx2.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except (BoxUnreachable, ToolError, httpx2.HTTPError):
            return False

    def _exited(self) -> bool:
        return self.up is not None and self.up.poll() is not None

    def call(self, tool: str, timeout: float = 30.0, **arguments: Any) -> dict[str, Any]:
        return self.link.call(tool, arguments, timeout=timeout)

    def pid(self, name: str) -> int:
        """The running child `name` (chaosgarden, hootenanny or vibeweaver) of `studio up`."""
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(self.up.pid)], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            pid, args = line.strip().split(None, 1)
            if args.split()[-1] == COMMANDS[name]:
                return int(pid)
        raise LookupError(f"{name} is not running under studio up {self.up.pid}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 60.0) -> int:
        def replaced() -> bool:
            try:
                return self.pid(name) != old_pid
            except LookupError:
                return False

        wait_until(replaced, timeout=timeout, interval=0.05)
        return self.pid(name)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.up is None or self.up.poll() is not None:
            return
        self.up.send_signal(signal.SIGTERM)
        try:
            self.up.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.up.pid, signal.SIGKILL)
            self.up.wait()


def rss_kib(pid: int) -> int:
    """Resident memory of `pid` in KiB (for the growth figures)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
