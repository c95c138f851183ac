"""The one error type the control plane raises for a request it cannot do; MCP turns it into a tool error."""

from __future__ import annotations


class ServiceError(Exception):
    """`code` is badRequest, notFound, conflict or unavailable; `message` names the field and what is allowed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
