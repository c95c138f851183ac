"""The `studio vibeweaver` process: the Weaver on hootenanny's sockets until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import zmq.asyncio

from appliance import notify
from appliance.config import Config, ConfigError
from appliance.proto.channel import Incoming, RequestError
from appliance.proto.codec import Body
from appliance.proto.endpoints import prepare_runtime_dir
from appliance.proto.tool_messages import ToolCall, ToolResult
from appliance.proto.typed_bodies import typed_value
from appliance.weave import tools
from appliance.weave.hootenanny_link import HootenannyLink
from appliance.weave.weaver import Weaver

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Run vibeweaver in this process until SIGTERM or SIGINT, then stop cleanly."""
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        raise SystemExit(2) from None


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or, without one, until SIGTERM/SIGINT)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    prepare_runtime_dir(config.runtime_dir)
    context = zmq.asyncio.Context()
    link: HootenannyLink | None = None
    weaver = Weaver(config, lambda kind, value: link.request(kind, value))  # type: ignore[union-attr]

    async def handle(incoming: Incoming) -> Body:
        body = incoming.body
        call = None if body is None else typed_value(body)
        if not isinstance(call, ToolCall):
            raise RequestError("badRequest", f"vibeweaver serves toolCall requests, not {body and body.kind}")
        return Body(ToolResult.KIND, await tools.call(weaver, call.name, call.arguments_json))

    await weaver.start()
    link = HootenannyLink(config, context, tools.definitions(), handle, weaver.on_broadcast)
    tasks = [asyncio.create_task(link.run(), name="hootenanny-link"),
             asyncio.create_task(weaver.keep_snapshots(), name="snapshots"),
             asyncio.create_task(notify.watchdog(), name="watchdog")]
    for task in tasks:
        task.add_done_callback(lambda done: _ended(done, stop))
    log.info("vibeweaver ready (session %s)", weaver.session.name)
    notify.ready(f"serving session {weaver.session.name}")
    try:
        await stop.wait()
    finally:
        log.info("vibeweaver stopping")
        notify.stopping()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await weaver.close()
        link.close()
        context.destroy(linger=0)


def _ended(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """A serving task that ends by itself is a bug: log it and stop, so the supervisor restarts us."""
    if task.cancelled():
        return
    error = task.exception()
    log.error("%s ended unexpectedly: %r; stopping", task.get_name(), error)
    stop.set()
