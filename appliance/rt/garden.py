"""The chaosgarden process: commands in on a ROUTER, events out on a PUB, capture threads beneath.

The asyncio loop here is the control thread: it answers hootenanny, maps
chunks ahead of the capture threads, and every few milliseconds turns what
they left behind into broadcasts. It never runs inside a capture loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from appliance import notify
from appliance.cas import ContentStore
from appliance.config import Config
from appliance.proto import endpoints
from appliance.proto.audition_messages import Audition
from appliance.proto.channel import Channel, Incoming, RequestError
from appliance.proto.codec import Body, WireMessage
from appliance.proto.pubsub import Publisher
from appliance.proto.stream_definition import DefinitionError
from appliance.proto.stream_messages import (
    STATUS_REQUEST,
    ChunkSealed,
    DeviceNotice,
    StreamError,
    StreamStart,
    StreamStop,
    SwitchChunk,
    status_reply,
)
from appliance.proto.timeline_messages import TIMELINE_LIST, TIMELINE_REMOVE, TimelineRegion
from appliance.proto.transport_messages import Marker, TransportCommand
from appliance.proto.typed_bodies import typed_value
from appliance.rt.chunk_writer import ChunkPrepareError
from appliance.rt.memory_budget import refusal
from appliance.rt.realtime import favour_control_thread, lock_memory, quiet_garbage_collector
from appliance.rt.sources import DeviceLost, FormatRefused
from appliance.rt.beat_clock import SampleClock
from appliance.rt.stream import CaptureStream
from appliance.rt.timekeeper import Timekeeper

log = logging.getLogger(__name__)

PUMP_INTERVAL_S = 0.01
YOUNG_GC_INTERVAL_S = 10.0
# Commands and subscriptions are small. libzmq allocates a frame as soon as its header announces the size, and
# under mlockall that memory is resident at once: a peer announcing a bigger frame is disconnected instead.
MAX_INBOUND_BYTES = 1 << 20


class Garden:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.streams: dict[str, CaptureStream] = {}
        self.ctx = zmq.asyncio.Context()
        run_dir = endpoints.prepare_runtime_dir(config.runtime_dir)
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND_BYTES)
        router.bind(endpoints.ipc(run_dir, endpoints.GARDEN_COMMANDS))
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 100_000)
        pub.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND_BYTES)
        pub.bind(endpoints.ipc(run_dir, endpoints.GARDEN_EVENTS))
        self.publisher = Publisher(pub, "chaosgarden")
        self.memory_locked = False
        self.timekeeper = Timekeeper(config, SampleClock(config.capture.sample_rate))
        self.channel = Channel(router, name="chaosgarden", handler=self.handle, serves=self._handlers())

    async def run(self) -> None:
        favour_control_thread()
        self.memory_locked = lock_memory()
        quiet_garbage_collector()
        await self.timekeeper.start()
        log.info("chaosgarden ready (pid %d, memory locked: %s)", os.getpid(), self.memory_locked)
        notify.ready(f"serving; memory locked: {self.memory_locked}")
        try:
            await asyncio.gather(self.channel.run(), self.pump(), notify.watchdog(self.healthy))
        finally:
            notify.stopping()
            await self.shutdown()

    def healthy(self) -> bool:
        """The watchdog's check: every stream meant to be recording still has its capture thread."""
        return all(s.thread.is_alive() for s in self.streams.values() if s.running)

    async def shutdown(self) -> None:
        self.timekeeper.stop()
        for stream in list(self.streams.values()):
            if stream.running:
                self._publish_all(await stream.stop())
        self.ctx.destroy(linger=200)

    # -- commands --------------------------------------------------------
    async def handle(self, incoming: Incoming) -> Body:
        body = incoming.body
        assert body is not None  # the channel calls a handler only with a request body it decoded
        handler = self._handlers().get(body.kind)
        if handler is None:
            raise RequestError("badRequest", f"chaosgarden does not handle {body.kind}")
        try:
            value = typed_value(body)
        except DefinitionError as exc:  # only a streamStart carries a definition
            raise RequestError("badRequest", f"stream definition: {exc}") from None
        return await handler(value)

    def _handlers(self) -> dict[str, Any]:
        """The requests chaosgarden serves; the channel refuses any other kind before decoding it."""
        return {
            StreamStart.KIND: self._start,
            SwitchChunk.KIND: self._switch,
            StreamStop.KIND: self._stop,
            ChunkSealed.KIND: self._sealed,
            STATUS_REQUEST: self._status,
            DeviceNotice.KIND: self._device,
            TransportCommand.KIND: self.timekeeper.transport_command,
            Marker.KIND: self.timekeeper.marker,
            TimelineRegion.KIND: self.timekeeper.schedule,
            TIMELINE_REMOVE: self.timekeeper.remove,
            TIMELINE_LIST: self.timekeeper.contents,
            Audition.KIND: self.timekeeper.audition,
        }

    async def _start(self, start: StreamStart) -> Body:
        definition = start.definition
        if definition.uri != start.uri:
            raise RequestError("badRequest", f"uri {start.uri!r} differs from the definition's {definition.uri!r}")
        existing = self.streams.get(definition.uri)
        if existing is not None and existing.running:
            raise RequestError("conflict", f"{definition.uri} is already recording")
        too_much = refusal(definition, [s.definition for s in self.streams.values() if s.running], self.config.rt)
        if too_much:
            raise RequestError("badRequest", too_much)
        paths = [_absolute(start.chunk_path, "chunkPath")] + [_absolute(p, "sparePaths") for p in start.spare_paths]
        stream = CaptureStream(definition, self.config.rt, self._staging_path, start.start_sample,
                               start.start_realtime_ns)
        try:
            await asyncio.to_thread(stream.start, paths[0], paths[1:])
        except FormatRefused as exc:
            raise RequestError("badRequest", str(exc)) from None
        except DeviceLost as exc:
            raise RequestError("unavailable", str(exc)) from None
        except ChunkPrepareError as exc:
            raise RequestError("unavailable", str(exc)) from None
        if existing is not None:
            stream.unacknowledged.update(existing.unacknowledged)
        self.streams[definition.uri] = stream
        shape = ("raw MIDI" if definition.kind.value == "midi" else
                 f"{definition.sample_rate} Hz, {definition.channels} ch, {definition.sample_format.value}")
        log.info("recording %s from %s (%s) from sample %d", definition.uri, definition.device, shape,
                 start.start_sample)
        return Body("ack")

    async def _switch(self, switch: SwitchChunk) -> Body:
        stream = self._running(switch.uri)
        try:
            await asyncio.to_thread(stream.add_spare, _absolute(switch.new_chunk_path, "newChunkPath"))
        except ChunkPrepareError as exc:
            # No clock: this is about the spare, not a moment on the stream.
            self.publisher.publish("stream.error", StreamError.KIND, StreamError(
                stream_uri=stream.uri, error=str(exc), recoverable=True, kind="noSpace" if exc.errno == 28 else "io"))
            raise RequestError("unavailable", str(exc)) from None
        return Body("ack")

    async def _stop(self, stop: StreamStop) -> Body:
        stream = self._running(stop.uri)
        self._publish_all(await stream.stop())
        log.info("stopped %s at sample %d", stream.uri, stream.writer.samples_in_files)
        return status_reply([stream.state()])

    async def _sealed(self, sealed: ChunkSealed) -> Body:
        stream = self.streams.get(sealed.uri)
        if stream is None or not stream.acknowledge(sealed.path):
            raise RequestError("notFound", f"no unsealed chunk {sealed.path} for {sealed.uri}")
        if not stream.running and not stream.unacknowledged:
            del self.streams[stream.uri]
        return Body("ack")

    async def _status(self, _value: None) -> Body:
        return status_reply([s.state() for s in self.streams.values()])

    async def _device(self, notice: DeviceNotice) -> Body:
        """udev news: a removed device stops being read at once; an added one is tried again now."""
        for stream in self.streams.values():
            if not stream.running:
                continue
            if notice.action == "removed" and stream.uses_device(notice):
                stream.thread.unplug()
                log.warning("%s: %s removed; recording silence until it is back", stream.uri, notice.device_id)
            elif notice.action == "added" and (stream.uses_device(notice) or not stream.thread.connected):
                stream.thread.plug()
        return Body("ack")

    def _staging_path(self) -> Path:
        """A staging file in the shared CAS, for chunks hootenanny did not hand out (see CaptureStream.stop)."""
        return ContentStore(self.config.data_dir / "cas").create_staging().path

    def _running(self, uri: str) -> CaptureStream:
        stream = self.streams.get(uri)
        if stream is None or not stream.running:
            known = ", ".join(u for u, s in self.streams.items() if s.running) or "none"
            raise RequestError("notFound", f"{uri} is not recording (recording: {known})")
        return stream

    # -- events ----------------------------------------------------------
    async def pump(self) -> None:
        interval_ns = self.config.rt.head_interval_ms * 1_000_000
        next_head = time.monotonic_ns()
        next_gc = time.monotonic()
        while True:
            await asyncio.sleep(PUMP_INTERVAL_S)
            self._publish_all(self.timekeeper.collect())
            for stream in list(self.streams.values()):
                if stream.running:
                    self._publish_all(stream.collect())
            if time.monotonic_ns() >= next_head:
                next_head += interval_ns
                self._publish_all([stream.head_broadcast() for stream in self.streams.values()
                                   if stream.running and stream.has_head])
            if time.monotonic() >= next_gc:
                # Young generations only: start-up objects are frozen, so this is short.
                next_gc = time.monotonic() + YOUNG_GC_INTERVAL_S
                gc.collect(1)

    def _publish_all(self, broadcasts: Sequence[tuple[str, str, WireMessage]]) -> None:
        """(topic, kind, message): a stream message (rt.stream), or a transport or output one (rt.timekeeper)."""
        for topic, kind, value in broadcasts:
            self.publisher.publish(topic, kind, value)


def _absolute(path: str, field: str) -> Path:
    p = Path(path)
    if not p.is_absolute() or not p.parent.is_dir():
        raise RequestError("badRequest", f"{field}: {path!r} must be an absolute path in an existing directory")
    return p
