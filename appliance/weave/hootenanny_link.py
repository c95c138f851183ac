"""vibeweaver's connection to hootenanny: a DEALER for requests both ways, a SUB for broadcasts.

On start, on a DISCONNECT from hootenanny, and whenever hootenanny has been
silent for `heartbeat_seconds x heartbeat_liveness`, vibeweaver (re)sends
READY with its tool definitions. It heartbeats every `heartbeat_seconds`.
ZMQ reconnects the sockets by itself when hootenanny restarts; READY makes
the new hootenanny route tool calls here again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio

from appliance.config import Config
from appliance.proto.channel import Channel, Handler, Incoming
from appliance.proto.codec import Body, pack_envelope
from appliance.proto.endpoints import HOOTENANNY_EVENTS, HOOTENANNY_WORKERS, ipc
from appliance.proto.framing import Command
from appliance.proto.pubsub import Broadcast, Subscriber
from appliance.proto.tool_messages import Ready, ToolDefinition

log = logging.getLogger(__name__)

SERVICE = "vibeweaver"
TOPICS = ("transport.", "beat.", "marker.", "job.", "artifact.")


class HootenannyLink:
    """The two sockets, registration and liveness."""

    def __init__(self, config: Config, context: zmq.asyncio.Context, tools: tuple[ToolDefinition, ...], handler: Handler,
                 on_broadcast: Callable[[Broadcast], None]) -> None:
        self.wire = config.wire
        self.tools = tools
        self.on_broadcast = on_broadcast
        self.dealer = context.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(ipc(config.runtime_dir, HOOTENANNY_WORKERS))
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(ipc(config.runtime_dir, HOOTENANNY_EVENTS))
        self.subscriber = Subscriber(sub, TOPICS)
        self.channel = Channel(self.dealer, name=SERVICE, handler=handler, on_control=self._on_control)
        self._last_heard = time.monotonic()

    async def request(self, kind: str, value: Any = None) -> Body:
        """A request to hootenanny, retried with the wire settings; raises RequestError."""
        return await self.channel.request(kind, value, service="hootenanny", timeout=self.wire.request_timeout_seconds,
                                          retries=self.wire.request_retries)

    async def run(self) -> None:
        """Register, then serve until cancelled."""
        await self.register()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._receive())
            group.create_task(self._broadcasts())
            group.create_task(self._heartbeat())

    def close(self) -> None:
        self.dealer.close(linger=0)
        self.subscriber.socket.close(linger=0)

    async def register(self) -> None:
        """Send READY with the tool definitions."""
        body = pack_envelope(Ready.KIND, Ready(service=SERVICE, tools=self.tools, pid=os.getpid()))
        await self.channel.send_control(Command.READY, body=body, service=SERVICE)
        log.info("registered with hootenanny (%d tools)", len(self.tools))

    async def _receive(self) -> None:
        while True:
            frames = await self.dealer.recv_multipart()
            self._last_heard = time.monotonic()
            self.channel.dispatch(frames)

    async def _broadcasts(self) -> None:
        while True:
            broadcast, _ = await self.subscriber.receive()
            try:
                self.on_broadcast(broadcast)
            except Exception:  # one bad broadcast must not stop the stream of them
                log.exception("broadcast %s could not be applied", broadcast.topic)

    async def _heartbeat(self) -> None:
        silence = self.wire.heartbeat_seconds * self.wire.heartbeat_liveness
        while True:
            await asyncio.sleep(self.wire.heartbeat_seconds)
            await self.channel.send_control(Command.HEARTBEAT, service=SERVICE)
            if time.monotonic() - self._last_heard > silence:
                log.warning("hootenanny silent for %.1f s; registering again", silence)
                self.channel.fail_pending(f"hootenanny silent for more than {silence:g} s")
                self._last_heard = time.monotonic()
                await self.register()

    async def _on_control(self, incoming: Incoming) -> None:
        if incoming.message.command == Command.DISCONNECT:
            log.info("hootenanny asked us to register again")
            await self.register()
