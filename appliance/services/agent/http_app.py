"""hootenanny's HTTP surface: `/healthz` (no token, nothing private) and `/artifacts/<id>` downloads.

`mcp_endpoint.py` mounts these beside `/mcp` in one Starlette app served by uvicorn.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from appliance import __version__
from appliance.services.store.artifacts import ArtifactStore
from appliance.services.service_error import ServiceError


def bearer_ok(request: Request, token: str) -> bool:
    """Constant-time check of `Authorization: Bearer <token>`."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def routes(artifacts: ArtifactStore, token: Callable[[], str], health: Callable[[], dict]) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, **health()})

    async def artifact(request: Request) -> Response:
        if not bearer_ok(request, token()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            item, path = artifacts.content_path(request.path_params["artifact_id"])
        except ServiceError as exc:
            return JSONResponse({"error": exc.message}, status_code=404)
        suffix = {"audio/wav": ".wav", "audio/flac": ".flac", "audio/midi": ".mid"}.get(item.mime, "")
        return FileResponse(path, media_type=item.mime, filename=f"{item.id}{suffix}")

    return [Route("/healthz", healthz), Route("/artifacts/{artifact_id}", artifact)]


