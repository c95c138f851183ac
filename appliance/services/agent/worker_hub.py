"""hootenanny's ROUTER for workers and local clients.

Workers (vibeweaver) send READY with their tool definitions and heartbeat;
their tools join the agent's surface and calls are forwarded to them. When a
worker falls silent its pending calls fail at once and its tools answer
"unavailable, restarting" until it registers again. Local clients (the
`studio` CLI, vibeweaver's own box calls) send `toolCall` requests for any
tool, and `deviceNotice` for udev news.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from appliance.config import Config
from appliance.proto import endpoints
from appliance.proto.channel import Channel, Incoming, RequestError
from appliance.proto.codec import Body, BodyError, unpack_envelope
from appliance.proto.framing import Command
from appliance.proto.liveness import Liveness
from appliance.proto.stream_messages import DeviceNotice
from appliance.proto.tool_messages import Ready, ToolCall, ToolResult
from appliance.proto.typed_bodies import typed_value
from appliance.services.service_error import ServiceError
from appliance.services.agent.registry import Forwarded, Progress, ToolOutput, ToolRegistry, as_wire_result

log = logging.getLogger(__name__)

FORWARD_MARGIN_S = 10.0


@dataclass
class RemoteTool:
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None  # None: the worker declares none (one from before outputSchemaJson)
    annotations: dict[str, Any]
    service: str
    peer: bytes | None  # None while its worker is away


DeviceHandler = Callable[[DeviceNotice], Awaitable[None]]
ToolsChanged = Callable[[], None]


class WorkerHub:
    def __init__(self, ctx: zmq.asyncio.Context, config: Config, registry: ToolRegistry,
                 on_device: DeviceHandler, on_tools_changed: ToolsChanged | None = None) -> None:
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(endpoints.ipc(config.runtime_dir, endpoints.HOOTENANNY_WORKERS))
        self.channel = Channel(router, name="hootenanny", handler=self._handle, on_control=self._control,
                               serves=("toolCall", DeviceNotice.KIND))
        self.registry = registry
        self.on_device = on_device
        self.on_tools_changed = on_tools_changed or (lambda: None)
        self.wire = config.wire
        self.call_timeout = config.weave.cell_timeout_seconds + FORWARD_MARGIN_S
        self.liveness = Liveness(config.wire.heartbeat_seconds, config.wire.heartbeat_liveness)
        self.remote: dict[str, RemoteTool] = {}
        self.workers: dict[bytes, str] = {}  # peer -> service

    async def run(self) -> None:
        await asyncio.gather(self.channel.run(), self._heartbeats())

    # -- calling tools -----------------------------------------------------
    async def call(self, name: str, arguments: dict[str, Any] | str, progress: Progress | None = None) -> ToolOutput:
        """Call any tool, local or served by a worker; only local tools report progress."""
        remote = self.remote.get(name)
        if remote is None:
            return await self.registry.call(name, arguments, progress)
        if remote.peer is None:
            raise ServiceError("unavailable", f"{name}: {remote.service} is unavailable (restarting); try again shortly")
        args_json = arguments if isinstance(arguments, str) else json.dumps(arguments)
        call = ToolCall(name=name, arguments_json=args_json)
        try:
            reply = await self.channel.request(ToolCall.KIND, call, peer=remote.peer, service=remote.service,
                                               timeout=self.call_timeout, retries=0)
        except RequestError as exc:
            raise ServiceError("unavailable", f"{name}: {remote.service} is unavailable (restarting): "
                                              f"{exc.message}") from None
        result = ToolResult.from_wire(reply.value)
        if result.is_error:
            raise ServiceError("badRequest", result.text)
        return ToolOutput(Forwarded(json.loads(result.structured_json or "{}")), result.text, list(result.images))

    # -- requests from peers -----------------------------------------------
    async def _handle(self, incoming: Incoming) -> Body:
        self.liveness.heard(incoming.peer)
        body = incoming.body
        if body is None:  # the channel decodes every request's body; only READY and HEARTBEAT come without
            raise RequestError("badRequest", "a request without a body")
        request = typed_value(body)
        if isinstance(request, ToolCall):
            try:
                output = await self.call(request.name, request.arguments_json)
            except ServiceError as exc:
                return Body(ToolResult.KIND, ToolResult(structured_json="{}", text=exc.message, is_error=True))
            return Body(ToolResult.KIND, as_wire_result(output))
        if body.kind == DeviceNotice.KIND:
            await self.on_device(DeviceNotice.from_wire(body.value))
            return Body("ack")
        raise RequestError("badRequest", f"hootenanny does not handle {body.kind} from clients")

    # -- registration and liveness -----------------------------------------
    async def _control(self, incoming: Incoming) -> None:
        peer, command = incoming.peer, incoming.message.command
        if command == Command.READY:
            self._register(peer, incoming.message.body)
        elif command == Command.HEARTBEAT:
            if peer not in self.workers:
                await self._send(Command.DISCONNECT, peer)  # a worker from before our restart: re-register
            else:
                self.liveness.heard(peer)
        elif command == Command.DISCONNECT:
            self._gone(peer, "said goodbye")

    def _register(self, peer: bytes, body: bytes) -> None:
        try:
            ready = unpack_envelope(body, ("ready",))
        except BodyError:
            self.channel.drops.count("ready-body")
            return
        registration = Ready.from_wire(ready.value)
        service = registration.service
        for old_peer, old_service in list(self.workers.items()):
            if old_service == service and old_peer != peer:
                self._gone(old_peer, "replaced by a new registration")
        self.workers[peer] = service
        self.liveness.heard(peer)
        for tool in registration.tools:
            self.remote[tool.name] = RemoteTool(
                tool.name, tool.description, json.loads(tool.input_schema_json or "{}"),
                json.loads(tool.output_schema_json) if tool.output_schema_json else None,
                json.loads(tool.annotations_json or "{}"), service, peer)
        log.info("%s registered %d tools", service, len(registration.tools))
        self.on_tools_changed()

    def _gone(self, peer: bytes, why: str) -> None:
        service = self.workers.pop(peer, None)
        self.liveness.forget(peer)
        if service is None:
            return
        for tool in self.remote.values():
            if tool.peer == peer:
                tool.peer = None
        self.channel.fail_pending(f"{service} {why}", peer)
        log.warning("%s %s; its tools answer 'unavailable' until it registers again", service, why)
        self.on_tools_changed()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.wire.heartbeat_seconds)
            for peer in self.liveness.expire():
                self._gone(peer, "stopped heartbeating")
            for peer in list(self.workers):
                await self._send(Command.HEARTBEAT, peer)

    async def _send(self, command: Command, peer: bytes) -> None:
        try:
            await self.channel.send_control(command, peer, service="hootenanny")
        except RequestError:
            self._gone(peer, "disconnected")
