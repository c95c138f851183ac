"""Run a real chaosgarden process and play hootenanny's part towards it: seal, hand spares, acknowledge.

Only the rt tests use this; everything past chaosgarden is tested against the
real hootenanny.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from appliance.cas import ContentStore, Digest
from appliance.proto import endpoints
from appliance.proto.channel import Channel, RequestError
from appliance.proto.pubsub import Subscriber
from appliance.proto.stream_definition import StreamDefinition, StreamKind
from appliance.proto.stream_messages import (
    STATUS_REQUEST,
    ChunkFull,
    ChunkSealed,
    HeadPosition,
    StreamError,
    StreamStart,
    StreamState,
    StreamStop,
    SwitchChunk,
    states_in,
    typed_value,
)

HANG_GUARD_S = 30.0


def wait_until(predicate, timeout: float = HANG_GUARD_S, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached before the hang guard")
        time.sleep(interval)


async def until(predicate, timeout: float = HANG_GUARD_S, plane: "ControlPlane | None" = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if plane is not None and plane.failure is not None:
            raise plane.failure
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached before the hang guard")
        await asyncio.sleep(0.005)


def start_garden(data_dir: Path, run_dir: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "STUDIO_RUN_DIR": str(run_dir), **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "rt"], env=env,
                            stderr=subprocess.PIPE, text=True)
    sock = run_dir / endpoints.GARDEN_EVENTS
    wait_until(lambda: sock.exists() or proc.poll() is not None)
    if proc.poll() is not None:
        raise RuntimeError(f"chaosgarden exited: {proc.stderr.read()}")
    return proc


@dataclass
class Recorded:
    """What the control plane saw of one stream."""

    sealed: list[tuple[int, int, Digest]] = field(default_factory=list)  # (first frame, frames, digest)
    errors: list[StreamError] = field(default_factory=list)
    heads: list[HeadPosition] = field(default_factory=list)
    final: bool = False
    final_heard: bool = False  # the final notice arrived by broadcast (every earlier event has, too)
    kinds: list[str] = field(default_factory=list)  # every broadcast's kind, in the order they arrived


class ControlPlane:
    """hootenanny's side of the stream protocol, on real sockets and a real CAS."""

    def __init__(self, run_dir: Path, store: ContentStore, hand_spares: bool = True) -> None:
        self.store = store
        self.hand_spares = hand_spares  # False plays a control plane that is too slow to hand back spares
        self.ctx = zmq.asyncio.Context()
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.connect(endpoints.ipc(run_dir, endpoints.GARDEN_COMMANDS))
        sub = self.ctx.socket(zmq.SUB)
        sub.connect(endpoints.ipc(run_dir, endpoints.GARDEN_EVENTS))
        self.channel = Channel(dealer, name="test-control")
        self.events = Subscriber(sub, ["stream."])
        self.streams: dict[str, Recorded] = {}
        self.failure: Exception | None = None
        self.sealed_paths: set[str] = set()
        self._tasks = [asyncio.ensure_future(self.channel.run()), asyncio.ensure_future(self._listen())]

    async def request(self, kind: str, value: Any = None, **kw):
        return await self.channel.request(kind, value, **kw)

    async def start(self, definition: StreamDefinition, spares: int = 2, start_sample: int = 0):
        self.streams[definition.uri] = Recorded()
        paths = [str(self.store.create_staging().path) for _ in range(spares + 1)]
        start = StreamStart(uri=definition.uri, definition=definition, chunk_path=paths[0],
                            spare_paths=tuple(paths[1:]), start_sample=start_sample)
        return await self.request(start.KIND, start, timeout=10, retries=0)

    async def states(self, **kw) -> list[StreamState]:
        return states_in(await self.request(STATUS_REQUEST, **kw))

    async def until_captured(self, uri: str, frames: int) -> None:
        """Wait until chaosgarden holds `frames` of `uri`, in chunk files or its RAM ring."""
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            state = next(s for s in await self.states() if s.uri == uri)
            if state.head.sample + state.ring_samples >= frames:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{uri}: {frames} frames not captured before the hang guard")
            await asyncio.sleep(0.02)

    async def stop(self, uri: str):
        """Stop, then take the chunks the stop reply lists as unacknowledged, as hootenanny does.

        A broadcast published before our SUB's subscription reached chaosgarden is lost
        (ZMQ's slow joiner); the reply's list is the reliable record.
        """
        reply = await self.request(StreamStop.KIND, StreamStop(uri=uri), timeout=20, retries=0)
        rec = self.streams[uri]
        for state in states_in(reply):
            for full in sorted(state.unacknowledged, key=lambda f: f.first_sample):
                await self._seal(rec, full)
        # Everything chaosgarden published before its reply (xruns included) arrives before the final
        # notice; wait for it unless it was lost, so the test sees every event.
        try:
            await until(lambda: rec.final_heard, timeout=5.0, plane=self)
        except TimeoutError:
            pass  # its broadcast was lost; the reply already gave us every chunk
        rec.final = True
        return reply

    async def _listen(self) -> None:
        try:
            await self._listen_forever()
        except Exception as exc:
            self.failure = exc
            raise

    async def _listen_forever(self) -> None:
        while True:
            event, _ = await self.events.receive()
            message = typed_value(event.body)  # subscribed to stream.: a head, a chunk or an error
            rec = self.streams.setdefault(message.stream_uri, Recorded())
            rec.kinds.append(event.body.kind)
            if isinstance(message, HeadPosition):
                rec.heads.append(message)
            elif isinstance(message, StreamError):
                rec.errors.append(message)
            elif isinstance(message, ChunkFull):
                await self._seal(rec, message)
                rec.final_heard = rec.final_heard or message.final

    async def _seal(self, rec: Recorded, full: ChunkFull) -> None:
        if full.path in self.sealed_paths:
            return
        self.sealed_paths.add(full.path)
        if full.path:
            digest = self.store.seal(Path(full.path), full.bytes_written)
            rec.sealed.append((full.first_sample, full.samples_written, digest))
            await self.request(ChunkSealed.KIND, ChunkSealed(uri=full.stream_uri, path=full.path))
        if full.final:
            rec.final = True
        elif self.hand_spares:
            spare = self.store.create_staging()
            try:
                switch = SwitchChunk(uri=full.stream_uri, new_chunk_path=str(spare.path))
                await self.request(switch.KIND, switch)
            except RequestError as exc:
                if exc.code != "notFound":  # the stream stopped meanwhile: the spare is not needed
                    raise
                self.store.release(spare.path)

    def recording(self, uri: str) -> bytes:
        """The sealed chunks of `uri`, in timeline order, as one byte string."""
        out = b""
        for _first, _n, digest in sorted(self.streams[uri].sealed):
            out += self.store.path(digest).read_bytes()
        return out

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.ctx.destroy(linger=0)


def audio_definition(uri: str, device: str, fmt: str, *, channels: int = 2, rate: int = 48000,
                     chunk: int = 4096, period: int = 256) -> StreamDefinition:
    return StreamDefinition.parse({"uri": uri, "device": device, "kind": StreamKind.AUDIO, "sample_rate": rate,
                                   "channels": channels, "sample_format": fmt, "chunk_samples": chunk,
                                   "period_frames": period})
