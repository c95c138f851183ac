"""Capture streams on the control plane: definitions, start and stop, what chaosgarden reports, status.

The stream service is the lifecycle of every stream and its public surface;
the parts are beside it, one concept each:
- `Recorder` (recorder.py): one stream's live state, which takes in heads and errors;
- `ChunkFlow` (chunk_flow.py): spares out, full chunks sealed into CAS and the manifest, acknowledged;
- `StreamTable` (stream_table.py): the catalog rows and manifest files that outlive a restart;
- `Recovery` (recovery.py): catching up with chaosgarden after either side was away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from appliance.cas import ContentStore
from appliance.config import Config
from appliance.proto import stream_messages as wire
from appliance.proto.channel import RequestError
from appliance.proto.pubsub import Broadcast
from appliance.proto.stream_definition import DefinitionError, StreamDefinition
from appliance.services.capture.chunk_flow import FREE_SPACE, ChunkFlow, Publish, manifest_clock
from appliance.services.capture.chunk_ledger import ChunkLedger
from appliance.services.capture.garden_link import GardenLink
from appliance.services.capture.manifest import Gap, Manifest
from appliance.services.capture.recorder import Recorder
from appliance.services.capture.recovery import Recovery
from appliance.services.capture.stream_status import StreamCreated, StreamStatus
from appliance.services.capture.stream_table import StreamTable
from appliance.services.service_error import ServiceError

CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
log = logging.getLogger(__name__)

NS = 1_000_000_000
LIVE_PERSIST_INTERVAL_S = 1.0
# How chaosgarden's refusal begins when the device itself cannot be opened (rt.sources: DeviceLost at open).
DEVICE_UNOPENED = ("cannot open ALSA PCM", "cannot open raw MIDI")


class DeviceLookup(Protocol):
    """What the device registry tells the streams (services.devices.DeviceRegistry)."""

    def resolve(self, device: str) -> str: ...
    def connected(self, device: str) -> bool | None: ...


class AsGiven:
    """No registry: devices are opened by the names they were given, and nothing is known of them."""

    def resolve(self, device: str) -> str:
        return device

    def connected(self, device: str) -> bool | None:
        return None


class StreamService:
    """Every stream hootenanny knows: its definition, its recording and its manifest."""

    def __init__(self, db: sqlite3.Connection, store: ContentStore, garden: GardenLink, config: Config,
                 publish: Publish, devices: DeviceLookup | None = None) -> None:
        self.devices = devices or AsGiven()
        self.store = store
        self.garden = garden
        self.config = config
        self.table = StreamTable(db, store)
        self.ledger = ChunkLedger(db, store)
        self.flow = ChunkFlow(store, garden, self.ledger, self.table, config, publish, self._stop_soon)
        self.recorders: dict[str, Recorder] = {rec.definition.uri: rec for rec in self.table.load()}
        self.recovery = Recovery(self.recorders, self.flow, self.table, self.start_locked, self.ledger, garden,
                                 config)
        self._stops: set[asyncio.Task[None]] = set()
        self._session_edges: Callable[[str, int | None, str, str], int] | None = None

    # -- definitions -------------------------------------------------------
    def create(self, fields: dict[str, object]) -> StreamCreated:
        """Define (or re-define, when not recording) a stream; the definition is stored in CAS."""
        try:
            definition = StreamDefinition.parse(fields)
        except DefinitionError as exc:
            raise ServiceError("badRequest", str(exc)) from None
        existing = self.recorders.get(definition.uri)
        if existing is not None and existing.broken:
            raise ServiceError("unavailable", f"{definition.uri}: {existing.broken}")
        if existing is not None and existing.recording and existing.definition != definition:
            raise ServiceError("conflict", f"{definition.uri} is recording; stop it before changing its definition")
        digest = self.table.define(definition)
        if existing is None or not existing.recording:
            manifest = existing.manifest if existing else Manifest(stream=definition.uri, definition=definition)
            manifest.definition, manifest.definition_digest = definition, digest
            self.recorders[definition.uri] = Recorder(definition, manifest,
                                                      existing.manifest_path if existing else None)
        return StreamCreated(uri=definition.uri, definition=definition, definition_hash=digest)

    def recorder(self, uri: str) -> Recorder:
        """The stream `uri`, ready to use; a stream whose manifest is corrupt is refused with the reason."""
        rec = self._known(uri)
        if rec.broken:
            raise ServiceError("unavailable", f"{uri}: {rec.broken}")
        return rec

    def _known(self, uri: str) -> Recorder:
        rec = self.recorders.get(uri)
        if rec is None:
            known = ", ".join(sorted(self.recorders)) or "none defined"
            raise ServiceError("notFound", f"uri: no stream {uri!r} (streams: {known})")
        return rec

    # -- start and stop ----------------------------------------------------
    async def start(self, uri: str) -> StreamStatus:
        rec = self.recorder(uri)
        async with rec.lock:
            if rec.recording:
                raise ServiceError("conflict", f"{uri} is already recording")
            short = self.flow.disk_short(rec)
            if short:
                raise ServiceError("unavailable", f"{uri}: {short}. {FREE_SPACE}")
            await self.start_locked(rec, reason="start")
        return self.status_of(rec)

    async def start_locked(self, rec: Recorder, reason: str) -> None:
        """Have chaosgarden record `rec` (its lock held), its samples going on after a gap for the time away.

        Raises ServiceError when chaosgarden refuses or does not answer; `reason` names the gap.
        """
        start_sample, start_realtime = self._continue_samples(rec, reason)
        paths = [self.ledger.hand_out(rec.definition.uri) for _ in range(1 + self.config.rt.spare_chunks)]
        rec.manifest.state = "recording"
        rec.manifest.live = None
        self.table.persist(rec)
        # A device id from device_list names the card's ALSA PCM or the port's node, which chaosgarden opens.
        opened = rec.definition.model_copy(update={"device": self.devices.resolve(rec.definition.device)})
        try:
            await self.garden.send(wire.StreamStart(
                uri=rec.definition.uri, definition=opened, chunk_path=paths[0], spare_paths=tuple(paths[1:]),
                start_sample=start_sample, start_realtime_ns=start_realtime), retries=0, timeout=10)
        except RequestError as exc:
            self.ledger.release_unsealed(rec.definition.uri)
            rec.manifest.state = "stopped"
            rec.last_error = exc.message
            rec.device_connected = not exc.message.startswith(DEVICE_UNOPENED)
            self.table.persist(rec)
            raise ServiceError("unavailable" if exc.code == "unavailable" else "badRequest",
                               f"chaosgarden refused {rec.definition.uri}: {exc.message}") from None
        rec.recording, rec.garden_lost, rec.head_seen, rec.head_clock = True, False, time.monotonic(), None
        rec.device_connected = True
        self.table.set_state(rec, "recording")
        log.info("%s recording from sample %d", rec.definition.uri, start_sample)

    def _continue_samples(self, rec: Recorder, reason: str) -> tuple[int, int]:
        """Where a (re)start continues: after the last sample, plus a gap as long as the time away.

        Returns the start sample and its CLOCK_REALTIME (0 for a first start):
        chaosgarden lays its first period by its own timestamp against it, so
        the time the device takes to open is silence, not shifted audio.
        """
        head = rec.manifest.head_sample
        last = rec.manifest.clocks[-1] if rec.manifest.clocks else None
        if last is None or not (rec.manifest.chunks or rec.manifest.gaps):
            return head, 0
        away = max(0, (time.time_ns() - last.realtime_ns) * rec.definition.sample_rate // NS)
        gap_start = max(head, last.sample)
        missed = max(0, last.sample + away - gap_start)
        if missed:
            rec.manifest.gaps.append(Gap(start_sample=gap_start, samples=missed, reason=reason))
        start = gap_start + missed
        return start, last.realtime_ns + (start - last.sample) * NS // rec.definition.sample_rate

    async def stop(self, uri: str) -> StreamStatus:
        rec = self.recorder(uri)
        async with rec.lock:
            if not rec.recording:
                raise ServiceError("conflict", f"{uri} is not recording")
            await self._stop_locked(rec)
        return self.status_of(rec)

    async def _stop_locked(self, rec: Recorder) -> None:
        uri = rec.definition.uri
        try:
            states = await self.garden.send(wire.StreamStop(uri=uri), timeout=15, retries=1)
        except RequestError as exc:
            raise ServiceError("unavailable", f"chaosgarden did not stop {uri}: {exc.message}") from None
        for state in states:
            await self.flow.take_unacknowledged(rec, state)
            if rec.recording and not state.running:
                # The last chunk was empty: no final chunk carried the news, nor the stop's clock.
                rec.manifest.clocks.append(manifest_clock(state.clocks[-1]))
                self.flow.finish(rec)

    def _stop_soon(self, rec: Recorder, reason: str) -> None:
        """Stop a recording we cannot go on with (called under its lock, so the stop runs after)."""
        if rec.stopping:
            return
        rec.stopping, rec.last_error = True, reason
        self.table.note_error(rec)
        log.error("%s: %s", rec.definition.uri, reason)
        task = asyncio.get_running_loop().create_task(self._stop_for(rec))
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _stop_for(self, rec: Recorder) -> None:
        try:
            async with rec.lock:
                if rec.recording:
                    await self._stop_locked(rec)
        except ServiceError as exc:
            log.error("%s: %s", rec.definition.uri, exc.message)
        finally:
            rec.stopping = False

    # -- events from chaosgarden --------------------------------------------
    async def on_event(self, event: Broadcast) -> None:
        message = wire.typed_value(event.body)
        if not isinstance(message, (wire.HeadPosition, wire.ChunkFull, wire.StreamError)):
            return  # not about a stream (transport, beats, ...)
        rec = self.recorders.get(message.stream_uri)
        if rec is None:
            return
        if isinstance(message, wire.HeadPosition):
            rec.take_head(message, self.config.capture.clock_seconds)
        elif isinstance(message, wire.ChunkFull):
            async with rec.lock:
                await self.flow.chunk_full(rec, message)
        else:
            # An error about a spare (no space, io) reads no clock.
            clock = manifest_clock(message.clock) if message.clock.monotonic_ns else None
            if rec.take_error(message, clock):
                self.table.note_error(rec)

    # -- the watch and recovery --------------------------------------------
    async def watch(self) -> None:
        """Persist live edges now and then; notice a silent chaosgarden and reconcile with it."""
        while True:
            await asyncio.sleep(LIVE_PERSIST_INTERVAL_S / 2)
            for rec in list(self.recorders.values()):
                if rec.live_dirty and not rec.lock.locked():
                    rec.live_dirty = False
                    self.table.persist(rec)
            await self.recovery.reconcile_silent()

    async def recover(self) -> None:
        """At start-up: catch up with what chaosgarden did while hootenanny was away, and say what is there."""
        await self.recovery.recover()

    # -- reading -----------------------------------------------------------
    def known_staging(self) -> set[str]:
        """Staging ids hootenanny still owns (for the start-up orphan scan)."""
        ids = self.ledger.staging_ids()
        ids |= {rec.manifest_path.name for rec in self.recorders.values() if rec.manifest_path}
        return ids

    @contextmanager
    def snapshot(self, uri: str) -> Iterator[Manifest]:
        """A copy of the manifest that stays readable while the recording goes on.

        The live chunk is opened here, in the event loop, where no seal can run
        in between, and the copy names it through /proc/self/fd: when the chunk
        is sealed meanwhile its staging name goes, but the open file keeps the
        bytes (sealing links them into content/ first).
        """
        rec = self.recorder(uri)
        manifest = rec.manifest.model_copy(deep=True)
        if rec.recording and rec.head_clock is not None:
            # The freshest reading of the clocks, for "now" and wall-clock time points; not kept in the manifest.
            manifest.clocks.append(rec.head_clock.model_copy(update={"reason": "head"}))
        fd = None
        if manifest.live is not None:
            try:
                fd = os.open(manifest.live.path, os.O_RDONLY)
            except FileNotFoundError:
                manifest.live = None  # sealed a moment ago: its chunk is in the manifest's next version
            else:
                manifest.live.path = f"/proc/self/fd/{fd}"
        try:
            yield manifest
        finally:
            if fd is not None:
                os.close(fd)

    async def wait_for_moment(self, uri: str, realtime_ns: int) -> None:
        """Return once a recording stream's head has passed CLOCK_REALTIME `realtime_ns` (at once if not recording).

        "now" is the moment a request arrives, but the head we know of is up to
        a head interval old: a window ending "now" waits for the head to pass
        that moment rather than come up short. Bounded: a head that does not
        come means chaosgarden is not recording this stream, and that is said.
        """
        rec = self.recorder(uri)
        limit = 3 * self.config.rt.head_interval_ms / 1000 + 1.0
        deadline = time.monotonic() + limit
        while rec.recording and (rec.head_clock is None or rec.head_clock.realtime_ns < realtime_ns):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServiceError("unavailable", f"{uri}: chaosgarden has not reported the recording reaching the "
                                                  f"moment of this request within {limit:.1f} s; "
                                                  f"{rec.last_error or 'it may be restarting'}; try again")
            try:
                await asyncio.wait_for(rec.head_moved.wait(), left)
            except TimeoutError:
                pass

    def name_channels(self, uri: str, names: dict[int, str]) -> dict[int, str]:
        """Name some of `uri`'s channels (an empty name forgets one); returns every name it has now."""
        count = self.recorder(uri).definition.channels
        for index, name in names.items():
            if not 0 <= index < count:
                raise ServiceError("badRequest", f"channel_names: channel {index} is out of range; {uri} has "
                                                 f"{count} channel{'s' if count != 1 else ''} (0-{count - 1})")
            if name and not CHANNEL_NAME.fullmatch(name):
                raise ServiceError("badRequest", f"channel_names: {name!r} (channel {index}) is not a name a file "
                                                 "can carry: 1 to 64 letters, digits, spaces, '-', '_' or '.'")
        merged = {**self.table.channel_names(uri), **names}
        merged = {k: v for k, v in merged.items() if v}
        twice = sorted({v for v in merged.values() if list(merged.values()).count(v) > 1})
        if twice:
            raise ServiceError("badRequest", f"channel_names: {', '.join(twice)} would name two channels; stems "
                                             "are files named after their channel, so names must differ")
        self.table.set_channel_names(uri, merged)
        return merged

    def channel_names(self, uri: str) -> dict[int, str]:
        self.recorder(uri)  # an unknown stream is refused by name
        return self.table.channel_names(uri)

    def use_session_edges(self, lookup: Callable[[str, int | None, str, str], int]) -> None:
        """Let time points name session edges (the session service provides them)."""
        self._session_edges = lookup

    def session_edge(self, session: str, segment: int | None, edge: str, stream: str) -> int:
        if self._session_edges is None:
            raise ServiceError("notFound", f"session {session!r}: capture sessions are not available")
        return self._session_edges(session, segment, edge, stream)

    # -- status ------------------------------------------------------------
    def status_of(self, rec: Recorder) -> StreamStatus:
        return rec.status(self.devices.connected(rec.definition.device))

    def status(self, uri: str | None = None) -> list[StreamStatus]:
        recs = [self._known(uri)] if uri else list(self.recorders.values())
        return [self.status_of(r) for r in recs]
