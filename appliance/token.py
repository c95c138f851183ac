"""The MCP bearer token: `STUDIO_MCP_TOKEN`, else `<data>/mcp-token` (mode 0600), made on first start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from appliance.config import Config

TOKEN_FILE = "mcp-token"


def token_path(config: Config) -> Path:
    return config.data_dir / TOKEN_FILE


def load_or_create(config: Config) -> str:
    if config.mcp.token:
        return config.mcp.token
    path = token_path(config)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return rotate(config)


def rotate(config: Config) -> str:
    """Write a new random token atomically, readable by our user only."""
    path = token_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token
