"""An MCP client as an agent would use it: the official SDK over real HTTP, with the bearer token."""

from __future__ import annotations

from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


@asynccontextmanager
async def mcp_session(url: str, token: str | None, headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers={**auth, **(headers or {})}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


def mcp_url(port: str | int) -> str:
    """Wait until hootenanny answers /healthz on `port`; return its MCP URL."""
    from tests.support.garden import wait_until

    def up() -> bool:
        try:
            return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx2.HTTPError:
            return False

    wait_until(up)
    return f"http://127.0.0.1:{port}/mcp"
