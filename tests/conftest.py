"""Shared fixtures: a private data directory and configuration per test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from appliance.config import Config, load_config


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
