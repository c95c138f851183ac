"""`studio up`: the three processes as children, restarted when one dies, stopped together.

This is the development stand-in for systemd (`make run`): children share
our process group, a crashed child comes back after a short backoff, and
Ctrl-C or SIGTERM stops them all (SIGTERM, then SIGKILL after a grace period)
so no stray process is left.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger("studio.up")

PROCESSES = (("chaosgarden", "rt"), ("hootenanny", "hootenanny"), ("vibeweaver", "vibeweaver"))
GRACE_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 10.0
STABLE_SECONDS = 30.0  # a child that ran this long resets its backoff


@dataclass
class Child:
    name: str
    command: str
    proc: subprocess.Popen | None = None
    started: float = 0.0
    backoff: float = 0.5
    restart_at: float = 0.0
    restarts: int = 0

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", self.command], env=env)
        self.started = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.proc.pid)


@dataclass
class Supervisor:
    env: dict[str, str]
    children: list[Child] = field(default_factory=lambda: [Child(n, c) for n, c in PROCESSES])
    stopping: bool = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for child in self.children:
            child.start(self.env)
        while not self.stopping:
            self._tend()
            time.sleep(0.2)
        return self._shutdown()

    def _stop(self, signum: int, _frame: object) -> None:
        log.info("%s: stopping all", signal.Signals(signum).name)
        self.stopping = True

    def _tend(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                if now - child.started > STABLE_SECONDS:
                    child.backoff = 0.5
                log.warning("%s exited with %s; restarting in %.1f s", child.name, code, child.backoff)
                child.proc, child.restart_at = None, now + child.backoff
                child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)
            if child.proc is None and now >= child.restart_at:
                child.restarts += 1
                child.start(self.env)

    def _shutdown(self) -> int:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pid %d did not stop in %.0f s; killing it", proc.pid, GRACE_SECONDS)
                proc.kill()
                proc.wait()
        return 0


def child_environment(data_dir: str | None) -> dict[str, str]:
    """What the children run with: the simulated Eurorack recording unless told otherwise."""
    env = {"STUDIO_CAPTURE_SIM_STREAMS": "true", **os.environ}
    if data_dir:
        env["STUDIO_DATA_DIR"] = data_dir
    return env
