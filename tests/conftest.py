"""Shared fixtures: a private data directory and configuration per test."""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path

import pytest

from appliance.config import Config, load_config


OPT_IN_MARKERS = {
    "vm": "boots the image under qemu: run with `make vm` (or pytest --run-vm)",
    "faults": "fault, fuzz and load scenarios: run with `make faults` (or pytest --run-faults)",
    "hil": "needs a real box: set STUDIO_HIL_HOST (and STUDIO_HIL_TOKEN), then `make hil`",
    "interop": "a second MCP client and the MCP conformance suite (Node): run with `make interop` "
               "(or pytest --run-interop after npm ci in tests/interop)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-vm", action="store_true", help="run tests marked vm")
    parser.addoption("--run-faults", action="store_true", help="run tests marked faults")
    parser.addoption("--run-interop", action="store_true", help="run tests marked interop")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow and hardware tests are reported as skipped, with how to run them, unless asked for."""
    enabled = {"vm": config.getoption("--run-vm"), "faults": config.getoption("--run-faults"),
               "hil": bool(os.environ.get("STUDIO_HIL_HOST")), "interop": config.getoption("--run-interop")}
    for item in items:
        for marker, why in OPT_IN_MARKERS.items():
            if marker in item.keywords and not enabled[marker]:
                item.add_marker(pytest.mark.skip(reason=why))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Run leftover finalizers (sockets, event loops) now, not inside the summary's module imports.

    CPython 3.11 raises "AST constructor recursion depth mismatch" when a
    finalizer runs in the middle of compiling a module, which pytest's
    summary does when it first imports hypothesis.
    """
    gc.collect()


@pytest.fixture
def short_tmp() -> Path:
    """A temporary directory with a short path (unix socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="st-", dir="/tmp") as path:
        yield Path(path)


@pytest.fixture
def config(short_tmp: Path) -> Config:
    return load_config(files=(), environ={"STUDIO_DATA_DIR": str(short_tmp / "data")})


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the machine's /etc/studio or a stray STUDIO_* variable."""
    for name in list(os.environ):
        if name.startswith("STUDIO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STUDIO_CONFIG_FILES", "/nonexistent/studio.toml")
