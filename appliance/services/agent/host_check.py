"""DNS-rebinding protection for hootenanny's HTTP: which `Host` and `Origin` a request may carry.

The MCP SDK's own check compares `Host` with a list made once, when
hootenanny starts. A box's addresses are not fixed then: DHCP answers after
the services start, Wi-Fi joins later, a lease moves. So the rule here is
evaluated per request. A name is the box's if it is a loopback name, the
box's host name now (or that name under `.local`), a name configured in
`[mcp] allowed_hosts`, or the address the request arrived on. A rebinding
page cannot send that address, because the browser puts the page's own name
in `Host`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(authority: str) -> str:
    """The name in a `Host` value or URL authority, without port or IPv6 brackets, lower-cased."""
    if authority.startswith("["):
        return authority[1:].partition("]")[0].lower()
    if authority.count(":") > 1:  # a bare IPv6 address, as ASGI gives the server's
        return authority.lower()
    name, _, port = authority.rpartition(":")
    return (name if name and port.isdigit() else authority).lower()


class HostCheck:
    """ASGI middleware: 421 for a `Host` that is not the box, 403 for an `Origin` from elsewhere."""

    def __init__(self, app: ASGIApp, extra_names: Iterable[str] = ()) -> None:
        self.app = app
        self.extra_names = frozenset(host_name(name) for name in extra_names)

    def box_names(self, scope: Scope) -> set[str]:
        """Every name a request to this box may use, as of now."""
        own = socket.gethostname().lower()
        names = {*LOOPBACK_NAMES, *self.extra_names, own, f"{own}.local"}
        if scope.get("server"):
            names.add(host_name(scope["server"][0]))
        return names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> PlainTextResponse | None:
        headers = Headers(scope=scope)
        names = self.box_names(scope)
        host = headers.get("host", "")
        if host_name(host) not in names:
            return PlainTextResponse(
                f"Host {host!r} is not this box; use one of {', '.join(sorted(names))} "
                "(other names go in [mcp] allowed_hosts)", status_code=421)
        origin = headers.get("origin")
        if origin is not None and not self.origin_ok(origin, names):
            return PlainTextResponse(
                f"Origin {origin!r} is not this box; a browser page must come from http(s)://"
                f"one of {', '.join(sorted(names))}", status_code=403)
        return None

    @staticmethod
    def origin_ok(origin: str, names: set[str]) -> bool:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and host_name(parts.netloc) in names
