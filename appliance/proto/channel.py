"""Request/reply over one ROUTER or DEALER socket, in both directions.

Either end may send a REQUEST and await the REPLY with the same request id;
READY, HEARTBEAT and DISCONNECT go to an `on_control` callback. A request that
gets no reply in time is sent again with the same id (lazy pirate), and the
receiving end answers a repeated id from its reply cache instead of running
the handler twice. Frames that do not decode are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from appliance.proto.codec import Body, BodyError, pack_envelope, unpack_envelope
from appliance.proto.framing import (
    NO_REQUEST,
    Command,
    ContentType,
    DropCounter,
    FrameError,
    Message,
    decode,
    encode,
    new_request_id,
)

log = logging.getLogger(__name__)

REPLY_CACHE_SIZE = 1024


class RequestError(Exception):
    """An error the peer answered with (or a handler raises to answer with)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PeerUnavailable(RequestError):
    """No reply after every retry, or the peer is not connected."""

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


@dataclass(frozen=True, slots=True)
class Incoming:
    peer: bytes  # the ROUTER identity; b"" on a DEALER
    message: Message
    body: Body | None = None


Handler = Callable[[Incoming], Awaitable[Body]]
ControlHandler = Callable[[Incoming], Awaitable[None] | None]


class Channel:
    """One socket, its pending requests, and the handler for requests from the other side."""

    def __init__(
        self,
        socket: zmq.asyncio.Socket,
        *,
        name: str,
        handler: Handler | None = None,
        on_control: ControlHandler | None = None,
        serves: Collection[str] | None = None,
    ) -> None:
        self.socket = socket
        self.name = name
        self.is_router = socket.type == zmq.ROUTER
        if self.is_router:
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.handler = handler
        self.on_control = on_control
        self.serves = serves  # the request kinds `handler` takes; others are refused before they are decoded
        self.drops = DropCounter()
        self._pending: dict[bytes, tuple[asyncio.Future[Body], bytes]] = {}  # request id -> (reply, peer)
        self._replies: OrderedDict[tuple[bytes, bytes], list[bytes]] = OrderedDict()
        self._in_progress: set[tuple[bytes, bytes]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- sending ---------------------------------------------------------
    async def send(self, message: Message, peer: bytes = b"") -> None:
        prefix = (peer,) if self.is_router else ()
        try:
            await self.socket.send_multipart(encode(message, prefix))
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                raise PeerUnavailable(f"{self.name}: peer {peer.hex()} is not connected") from None
            raise

    async def send_control(self, command: Command, peer: bytes = b"", body: bytes = b"", service: str = "") -> None:
        content = ContentType.ENVELOPE if body else ContentType.EMPTY
        await self.send(Message(command, content, NO_REQUEST, service, "", body), peer)

    async def request(
        self,
        kind: str,
        value: Any = None,
        *,
        peer: bytes = b"",
        service: str = "",
        timeout: float = 5.0,
        retries: int = 3,
        traceparent: str = "",
    ) -> Body:
        """Send an Envelope `kind` request and return the reply body; raise RequestError."""
        request_id = new_request_id()
        message = Message(
            Command.REQUEST, ContentType.ENVELOPE, request_id, service, traceparent, pack_envelope(kind, value)
        )
        future: asyncio.Future[Body] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, peer)
        try:
            for _attempt in range(retries + 1):
                await self.send(message, peer)
                try:
                    reply = await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    continue
                if reply.kind == "error":
                    raise RequestError(reply.value["code"], reply.value["message"])
                return reply
            raise PeerUnavailable(
                f"{self.name}: no reply to {kind} after {retries + 1} attempts of {timeout:g} s"
            )
        finally:
            self._pending.pop(request_id, None)

    def fail_pending(self, reason: str, peer: bytes | None = None) -> None:
        """Fail the requests still waiting on `peer` (all when None), e.g. a peer declared gone."""
        for future, to in self._pending.values():
            if (peer is None or to == peer) and not future.done():
                future.set_exception(PeerUnavailable(reason))

    # -- receiving -------------------------------------------------------
    async def run(self) -> None:
        """Receive until cancelled, giving the loop to other tasks after every message.

        pyzmq hands back a message that is already queued without yielding, so
        without the `sleep(0)` a flood would hold the loop until the socket is
        empty: no replies, no heartbeats, no broadcasts in the meantime.
        """
        while True:
            frames = await self.socket.recv_multipart()
            self.dispatch(frames)
            await asyncio.sleep(0)

    def dispatch(self, frames: list[bytes]) -> None:
        try:
            prefix, message = decode(frames)
        except FrameError as exc:
            self.drops.count(exc.reason)
            return
        if len(prefix) != (1 if self.is_router else 0):
            self.drops.count("prefix")
            return
        peer = prefix[0] if prefix else b""
        if message.command == Command.REPLY:
            self._on_reply(message)
        elif message.command == Command.REQUEST:
            self._on_request(peer, message)
        elif self.on_control is not None:
            self._spawn(self._control(Incoming(peer, message)))

    def _on_reply(self, message: Message) -> None:
        future, _peer = self._pending.get(message.request_id, (None, b""))
        if future is None or future.done():
            self.drops.count("late-reply")
            return
        try:
            future.set_result(unpack_envelope(message.body))
        except BodyError as exc:
            future.set_exception(RequestError("badRequest", f"malformed reply: {exc}"))

    def _on_request(self, peer: bytes, message: Message) -> None:
        key = (peer, message.request_id)
        if key in self._replies:
            self._spawn(self.socket.send_multipart(self._replies[key]))
            return
        if key in self._in_progress:
            return
        self._in_progress.add(key)
        self._spawn(self._serve(peer, message, key))

    async def _serve(self, peer: bytes, message: Message, key: tuple[bytes, bytes]) -> None:
        try:
            reply = await self._answer(peer, message)
            frames = encode(
                Message(Command.REPLY, ContentType.ENVELOPE, message.request_id, message.service,
                        message.traceparent, reply),
                (peer,) if self.is_router else (),
            )
            self._replies[key] = frames
            if len(self._replies) > REPLY_CACHE_SIZE:
                self._replies.popitem(last=False)
            await self.socket.send_multipart(frames)
        except zmq.ZMQError as exc:
            log.info("%s: could not reply to %s: %s", self.name, peer.hex() or "peer", exc)
        finally:
            self._in_progress.discard(key)

    async def _answer(self, peer: bytes, message: Message) -> bytes:
        if self.handler is None:
            return pack_envelope("error", {"code": "notFound", "message": f"{self.name} serves no requests"})
        try:
            body = unpack_envelope(message.body, self.serves)
        except BodyError as exc:
            self.drops.count("body")
            return pack_envelope("error", {"code": "badRequest", "message": str(exc)})
        try:
            reply = await self.handler(Incoming(peer, message, body))
            return pack_envelope(reply.kind, reply.value)
        except RequestError as exc:
            return pack_envelope("error", {"code": exc.code, "message": exc.message})
        except BodyError as exc:
            log.exception("%s: handler for %s built a bad reply", self.name, body.kind)
            return pack_envelope("error", {"code": "internal", "message": str(exc)})
        except Exception as exc:  # a handler bug must not take the socket down
            log.exception("%s: handler for %s failed", self.name, body.kind)
            return pack_envelope("error", {"code": "internal", "message": f"{type(exc).__name__}: {exc}"})

    async def _control(self, incoming: Incoming) -> None:
        try:
            result = self.on_control(incoming)  # type: ignore[misc]
            if result is not None:
                await result
        except Exception:
            log.exception("%s: control handler failed for %s", self.name, incoming.message.command.name)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
