"""A loopback HTTP proxy that adds the box's bearer token, for clients that cannot send one.

The MCP conformance suite (`npx @modelcontextprotocol/conformance server`)
connects with a bare URL: it has no way to send `Authorization`. This proxy
listens on 127.0.0.1:<port> and forwards every request to the box with
`Authorization: Bearer <token>` added and nothing else changed:

- `Host` and `Origin` go through exactly as the client sent them, so the
  box's own DNS-rebinding check (appliance/services/host_check.py) is what
  answers the suite's `dns-rebinding-protection` scenario, not this proxy.
- Responses are streamed through as they arrive (SSE is never buffered),
  with the box's status and headers.

    python tests/interop/bearer_proxy.py --port 18080 --upstream http://127.0.0.1:8080 \
        --token-file var/mcp-token

The token is read from a file (the box's `<data>/mcp-token`) so it never
appears on a command line. Prints `proxy http://127.0.0.1:<port> -> <upstream>`
as it starts; the port answers a moment later.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

# Hop-by-hop headers belong to one connection and are not forwarded (RFC 9110 7.6.1); the length is
# recomputed by whoever writes the body. `authorization` is replaced by ours.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length", "authorization"}
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]


def make_app(upstream: str, token: str) -> Starlette:
    # No read timeout: a GET /mcp SSE stream stays open, silent, for as long as the client wants it.
    client = httpx2.AsyncClient(timeout=httpx2.Timeout(10.0, read=None))
    for name in list(client.headers):  # no Accept, User-Agent... of the proxy's own: only what the client sent
        del client.headers[name]

    async def forward(request: Request) -> Response:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        headers.append(("authorization", f"Bearer {token}"))  # Host stays: the client's, as sent
        target = upstream + request.scope["raw_path"].decode("latin-1")  # path and query as sent, not re-encoded
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode("latin-1")
        outgoing = client.build_request(request.method, target, headers=headers, content=await request.body())
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx2.HTTPError as exc:
            return PlainTextResponse(f"bearer_proxy: upstream {upstream} unreachable: {exc!r}", status_code=502)
        # aiter_raw: the bytes as the box sent them (no decoding), each chunk passed on as soon as it arrives.
        response = StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                     background=BackgroundTask(answer.aclose))
        # The box's headers as a list, so a repeated one stays repeated.
        response.raw_headers = [(k, v) for k, v in answer.headers.raw if k.decode().lower() not in HOP_BY_HOP]
        return response

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        yield
        await client.aclose()

    return Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    parser.add_argument("--upstream", required=True, help="the box, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token-file", type=Path, required=True, help="file holding the bearer token")
    args = parser.parse_args()
    app = make_app(args.upstream.rstrip("/"), args.token_file.read_text().strip())
    print(f"proxy http://127.0.0.1:{args.port} -> {args.upstream}", flush=True)
    # Nothing of our own: no X-Forwarded-* rewriting, and the box's Date and Server headers, not a second pair.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", proxy_headers=False,
                server_header=False, date_header=False)


if __name__ == "__main__":
    main()
