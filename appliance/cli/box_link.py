"""The CLI's line to the running box: blocking requests over the same ZMQ sockets the processes use.

Every `studio` command that asks the box something calls a tool through
hootenanny's ROUTER (`toolCall`, like an agent but without HTTP) or sends it
a `deviceNotice`; `studio status` also asks chaosgarden directly whether it
answers. Each request opens its own socket and closes it, so a command never
leaves anything behind.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from appliance.proto import endpoints
from appliance.proto.channel import Channel, RequestError
from appliance.proto.codec import Body
from appliance.proto.stream_messages import STATUS_REQUEST, DeviceNotice, StreamState, states_in
from appliance.proto.tool_messages import ToolCall, ToolResult

READ_TIMEOUT_S = 10.0


class BoxUnreachable(Exception):
    """The process is not running (or not answering); the message says how to check."""


class ToolError(Exception):
    """A tool answered with an error; the message is the tool's own text."""


class BoxLink:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def call(self, tool: str, arguments: dict[str, Any] | None = None,
             timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
        """Call any tool (hootenanny's or vibeweaver's) and return its structured result."""
        call = ToolCall(name=tool, arguments_json=json.dumps(arguments or {}))
        reply = self._request(endpoints.HOOTENANNY_WORKERS, "hootenanny", call.KIND, call, timeout)
        result = ToolResult.from_wire(reply.value)
        if result.is_error:
            raise ToolError(result.text)
        return json.loads(result.structured_json or "{}")

    def device_notice(self, notice: DeviceNotice) -> None:
        """Tell hootenanny a device arrived or left (it updates its registry and tells chaosgarden)."""
        self._request(endpoints.HOOTENANNY_WORKERS, "hootenanny", notice.KIND, notice, READ_TIMEOUT_S)

    def garden_streams(self, timeout: float = READ_TIMEOUT_S) -> list[StreamState]:
        """chaosgarden's own view of its capture streams (proves it answers)."""
        return states_in(self._request(endpoints.GARDEN_COMMANDS, "chaosgarden", STATUS_REQUEST, None, timeout))

    def _request(self, socket_name: str, process: str, kind: str, value: Any, timeout: float) -> Body:
        path = self.run_dir / socket_name
        _check_listening(path, process)
        try:
            return asyncio.run(_request_once(endpoints.ipc(self.run_dir, socket_name), kind, value, timeout))
        except RequestError as exc:
            if exc.code == "unavailable":
                raise BoxUnreachable(f"{_not_answering(path, process)} ({exc.message})") from None
            raise ToolError(f"{process} refused {kind}: {exc.message}") from None


async def _request_once(address: str, kind: str, value: Any, timeout: float) -> Body:
    ctx = zmq.asyncio.Context()
    try:
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(address)
        channel = Channel(dealer, name="studio")
        receiving = asyncio.create_task(channel.run())
        try:
            return await channel.request(kind, value, timeout=timeout, retries=0)
        finally:
            receiving.cancel()
    finally:
        ctx.destroy(linger=0)


def _check_listening(path: Path, process: str) -> None:
    """Fail at once, instead of after a timeout, when nothing listens on the socket file."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except FileNotFoundError:
            raise BoxUnreachable(_not_answering(path, process)) from None
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                raise BoxUnreachable(_not_answering(path, process)) from None
            if exc.errno == errno.EACCES:
                raise BoxUnreachable(f"no permission to reach {process} at {path}: run it as root or as the "
                                     "studio user (sudo studio ...)") from None
            raise


def _not_answering(path: Path, process: str) -> str:
    return f"{process} is not answering on {path.absolute()}: is it running? (systemctl status {process} / studio up)"
