"""hootenanny's line to chaosgarden: commands out on a DEALER, events in on a SUB.

Every event is also handed on unchanged to hootenanny's own PUB socket, so
subscribers of hootenanny see chaosgarden's broadcasts without a second
connection. ZMQ reconnects by itself when chaosgarden restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio

from appliance.config import Config
from appliance.proto import endpoints
from appliance.proto.channel import Channel
from appliance.proto.codec import Body
from appliance.proto.pubsub import Broadcast, Publisher, Subscriber
from appliance.proto.stream_messages import STATUS_REQUEST, StreamCommand, StreamState, states_in

log = logging.getLogger(__name__)

EventHandler = Callable[[Broadcast], Awaitable[None]]


class GardenLink:
    def __init__(self, ctx: zmq.asyncio.Context, config: Config, fanout: Publisher, on_event: EventHandler) -> None:
        run_dir = config.runtime_dir
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(endpoints.ipc(run_dir, endpoints.GARDEN_COMMANDS))
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 100_000)
        sub.connect(endpoints.ipc(run_dir, endpoints.GARDEN_EVENTS))
        self.channel = Channel(dealer, name="hootenanny->chaosgarden")
        self.events = Subscriber(sub)
        self.fanout = fanout
        self.on_event = on_event
        self.wire = config.wire

    async def request(self, kind: str, value: Any = None, *, timeout: float | None = None,
                      retries: int | None = None) -> Body:
        return await self.channel.request(
            kind, value, service="chaosgarden",
            timeout=self.wire.request_timeout_seconds if timeout is None else timeout,
            retries=self.wire.request_retries if retries is None else retries,
        )

    async def send(self, command: StreamCommand, *, timeout: float | None = None,
                   retries: int | None = None) -> list[StreamState]:
        """Send a stream command; return the stream states its reply carries (a stop's; none in an ack)."""
        return states_in(await self.request(command.KIND, command, timeout=timeout, retries=retries))

    async def stream_states(self, *, timeout: float | None = None, retries: int | None = None) -> list[StreamState]:
        """chaosgarden's view of every stream it knows."""
        return states_in(await self.request(STATUS_REQUEST, timeout=timeout, retries=retries))

    async def run_commands(self) -> None:
        await self.channel.run()

    async def run_events(self) -> None:
        while True:
            event, frames = await self.events.receive()
            self.fanout.forward(frames)
            try:
                await self.on_event(event)
            except Exception:
                log.exception("handling %s from chaosgarden failed", event.body.kind)
