"""Capture streams on the control plane: definitions, start and stop, the seal of each chunk, status.

For every recording stream hootenanny keeps chunks handed to chaosgarden
(written down in the chunk ledger, so a restart knows them), seals each one
chaosgarden reports full, records it in the manifest before dropping the
staging name, acknowledges it, and hands over a fresh spare. One stream's
live state is its `Recorder` (recorder.py); catching up with chaosgarden
after either side was away is `Recovery`'s (recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from appliance.cas import ContentStore, SealError
from appliance.config import Config
from appliance.proto import stream_messages as wire
from appliance.proto.channel import RequestError
from appliance.proto.midi_record import iter_records
from appliance.proto.pubsub import Broadcast
from appliance.proto.stream_definition import DefinitionError, StreamDefinition, StreamKind
from appliance.services.capture import manifest as manifests
from appliance.services.store.catalog import now_ns
from appliance.services.capture.chunk_ledger import ChunkLedger
from appliance.services.capture.garden_link import GardenLink
from appliance.services.capture.manifest import ChunkRef, ClockSnapshot, Gap, LiveEdge, Manifest
from appliance.services.capture.recorder import Recorder
from appliance.services.capture.recovery import Recovery
from appliance.services.service_error import ServiceError

log = logging.getLogger(__name__)

NS = 1_000_000_000
LIVE_PERSIST_INTERVAL_S = 1.0
# How chaosgarden's refusal begins when the device itself cannot be opened (rt.sources: DeviceLost at open).
DEVICE_UNOPENED = ("cannot open ALSA PCM", "cannot open raw MIDI")
MIB = 1 << 20
FREE_SPACE = "Free space (studio cas gc, stream_retention) and start the stream again"
Publish = Callable[[str, str, Any], None]  # topic, kind, value (Publisher.publish)


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
    """Every stream hootenanny knows: its definition, its recording and its manifest.

    The chunks handed to chaosgarden are kept by a `ChunkLedger`; catching up
    with chaosgarden after either side was away is left to a `Recovery`, which
    takes the steps of the lifecycle through this service's methods.
    """

    def __init__(self, db: sqlite3.Connection, store: ContentStore, garden: GardenLink, config: Config,
                 publish: Publish, devices: DeviceLookup | None = None) -> None:
        self.db = db
        self.devices = devices or AsGiven()
        self.store = store
        self.garden = garden
        self.config = config
        self.publish = publish
        self.recorders: dict[str, Recorder] = {}
        self.ledger = ChunkLedger(db, store)
        self.recovery = Recovery(self.recorders, self, self.ledger, garden, config)
        self._stops: set[asyncio.Task] = set()
        self._session_edges: Callable[[str, int | None, str, str], int] | None = None
        self._load()

    # -- definitions -------------------------------------------------------
    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
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
        digest = self.store.put(definition.model_dump_json().encode())
        stamp = now_ns()
        self.db.execute(
            "INSERT INTO streams (uri, definition_json, definition_digest, state, created_ns, updated_ns)"
            " VALUES (?, ?, ?, 'defined', ?, ?) ON CONFLICT(uri) DO UPDATE SET definition_json=excluded.definition_json,"
            " definition_digest=excluded.definition_digest, updated_ns=excluded.updated_ns",
            (definition.uri, definition.model_dump_json(), digest, stamp, stamp),
        )
        if existing is None or not existing.recording:
            manifest = existing.manifest if existing else Manifest(stream=definition.uri, definition=definition)
            manifest.definition, manifest.definition_digest = definition, digest
            self.recorders[definition.uri] = Recorder(definition, manifest,
                                                      existing.manifest_path if existing else None)
        return {"uri": definition.uri, "definition": definition.model_dump(mode="json"), "definition_hash": digest}

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
    async def start(self, uri: str) -> dict[str, Any]:
        rec = self.recorder(uri)
        async with rec.lock:
            if rec.recording:
                raise ServiceError("conflict", f"{uri} is already recording")
            short = self._disk_short(rec)
            if short:
                raise ServiceError("unavailable", f"{uri}: {short}. {FREE_SPACE}")
            await self.start_locked(rec, reason="start")
        return self.status_of(rec)

    async def start_locked(self, rec: Recorder, reason: str) -> None:
        """Have chaosgarden record `rec` (its lock held), the timeline going on after a gap for the time away.

        Raises ServiceError when chaosgarden refuses or does not answer; `reason` names the gap.
        """
        start_sample, start_realtime = self._continue_timeline(rec, reason)
        paths = [self.ledger.hand_out(rec.definition.uri) for _ in range(1 + self.config.rt.spare_chunks)]
        rec.manifest.state = "recording"
        rec.manifest.live = None
        self._persist(rec)
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
            self._persist(rec)
            raise ServiceError("unavailable" if exc.code == "unavailable" else "badRequest",
                               f"chaosgarden refused {rec.definition.uri}: {exc.message}") from None
        rec.recording, rec.garden_lost, rec.head_seen, rec.head_clock = True, False, time.monotonic(), None
        rec.device_connected = True
        self.set_state(rec, "recording")
        log.info("%s recording from sample %d", rec.definition.uri, start_sample)

    def _continue_timeline(self, rec: Recorder, reason: str) -> tuple[int, int]:
        """Where a (re)start continues: after the last frame, plus a gap as long as the time away.

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
        frames = max(0, last.sample + away - gap_start)
        if frames:
            rec.manifest.gaps.append(Gap(start_sample=gap_start, samples=frames, reason=reason))
        start = gap_start + frames
        return start, last.realtime_ns + (start - last.sample) * NS // rec.definition.sample_rate

    async def stop(self, uri: str) -> dict[str, Any]:
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
            await self.take_unacknowledged(rec, state)
            if rec.recording and not state.running:
                # The last chunk was empty: no final chunk carried the news, nor the stop's clock.
                rec.manifest.clocks.append(_clock(state.clocks[-1]))
                self.finish(rec)

    def _stop_soon(self, rec: Recorder, reason: str) -> None:
        """Stop a recording we cannot go on with (called under its lock, so the stop runs after)."""
        if rec.stopping:
            return
        rec.stopping, rec.last_error = True, reason
        self.db.execute("UPDATE streams SET last_error=? WHERE uri=?", (reason, rec.definition.uri))
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

    def _disk_short(self, rec: Recorder) -> str:
        """Why no further chunk may be handed out (the data disk is nearly full), or ''."""
        free = shutil.disk_usage(self.store.root).free
        chunk, reserve = rec.definition.chunk_bytes, self.config.capture.disk_reserve_mb * MIB
        if free >= chunk + reserve:
            return ""
        return (f"disk full: {free / MIB:.1f} MiB free under {self.store.root}, less than one chunk "
                f"({chunk / MIB:.1f} MiB) plus the reserve ({reserve / MIB:.0f} MiB, capture.disk_reserve_mb)")

    # -- chunks ------------------------------------------------------------
    async def spare(self, rec: Recorder) -> None:
        """Hand chaosgarden one more chunk file for `rec` (its lock held), or stop it when the disk is too full."""
        short = self._disk_short(rec)
        if short:
            self._stop_soon(rec, f"{short}; recording stopped at sample {rec.manifest.head_sample}. {FREE_SPACE}")
            return
        path = self.ledger.hand_out(rec.definition.uri)
        try:
            await self.garden.send(wire.SwitchChunk(uri=rec.definition.uri, new_chunk_path=path))
        except RequestError as exc:
            self.ledger.forget(path)
            if "No space left on device" in exc.message:  # the reserve was not enough: stop all the same
                self._stop_soon(rec, f"disk full: {exc.message}; recording stopped")
            elif exc.code != "notFound":
                log.warning("%s: spare chunk not taken: %s", rec.definition.uri, exc.message)

    async def _chunk_full(self, rec: Recorder, full: wire.ChunkFull) -> None:
        path = full.path
        chunk = (self.ledger.find(path) or self.ledger.adopt(rec.definition.uri, path)) if path else None
        if path and chunk is not None:
            if chunk.digest is None:
                self.seal_into_manifest(rec, full)
            self.store.release(Path(path))
            await self._acknowledge(rec, path)
            self.ledger.forget(path)
        if full.final:
            if rec.recording:
                if not path:  # nothing in the last chunk: the stop's clock comes with this marker alone
                    rec.manifest.clocks.append(_clock(full.clock))
                self.finish(rec)
        elif rec.recording and path and chunk is not None:
            await self.spare(rec)

    def seal_into_manifest(self, rec: Recorder, full: wire.ChunkFull) -> None:
        """Seal the chunk `full` reports into CAS and record it in the manifest (its lock held); raises SealError."""
        path = Path(full.path)
        if full.bytes_written == 0:
            return
        try:
            digest = self.store.seal(path, full.bytes_written, release=False)
        except SealError as exc:
            rec.last_error = str(exc)
            log.error("%s: %s", rec.definition.uri, exc)
            raise
        first, samples = self._span(rec, digest, full)
        chunk = ChunkRef(digest=digest, first_sample=first, samples=samples, bytes=full.bytes_written)
        rec.manifest.chunks.append(chunk)
        rec.manifest.chunks.sort(key=lambda c: c.first_sample)
        rec.manifest.clocks.append(_clock(full.clock))
        if rec.manifest.live is not None and rec.manifest.live.path == str(path):
            rec.manifest.live = None
        self._persist(rec)
        self.ledger.sealed(str(path), digest)
        self.publish("stream.sealed", wire.ChunkFull.KIND, replace(full, path=digest))

    def _span(self, rec: Recorder, digest: str, full: wire.ChunkFull) -> tuple[int, int]:
        if rec.definition.kind is StreamKind.AUDIO:
            return full.first_sample, full.samples_written
        frames = [r.sample for r in iter_records(self.store.path(digest).read_bytes())]
        return (frames[0], frames[-1] - frames[0] + 1) if frames else (full.clock.sample, 0)

    async def _acknowledge(self, rec: Recorder, path: str) -> None:
        try:
            await self.garden.send(wire.ChunkSealed(uri=rec.definition.uri, path=path), retries=1)
        except RequestError as exc:
            if exc.code not in ("notFound", "unavailable"):
                raise

    def finish(self, rec: Recorder) -> None:
        """`rec` stopped recording (its lock held): drop its unused spares and store its manifest in CAS."""
        rec.recording = False
        rec.manifest.state = "stopped"
        rec.manifest.live = None
        self.ledger.release_unsealed(rec.definition.uri)
        self._persist(rec)
        digest = self.store.put(rec.manifest.to_json())
        self.db.execute("UPDATE streams SET state='stopped', manifest_digest=?, updated_ns=? WHERE uri=?",
                        (digest, now_ns(), rec.definition.uri))
        log.info("%s stopped at sample %d; manifest %s", rec.definition.uri, rec.manifest.head_sample, digest)

    async def take_unacknowledged(self, rec: Recorder, state: wire.StreamState) -> None:
        """Seal the chunks chaosgarden reported full and we have not acknowledged, in order (its lock held)."""
        for full in sorted(state.unacknowledged, key=lambda f: f.first_sample):
            await self._chunk_full(rec, full)

    # -- events from chaosgarden --------------------------------------------
    async def on_event(self, event: Broadcast) -> None:
        message = wire.typed_value(event.body)
        if not isinstance(message, (wire.HeadPosition, wire.ChunkFull, wire.StreamError)):
            return  # not about a stream (transport, beats, ...)
        rec = self.recorders.get(message.stream_uri)
        if rec is None:
            return
        if isinstance(message, wire.HeadPosition):
            self._on_head(rec, message)
        elif isinstance(message, wire.ChunkFull):
            async with rec.lock:
                await self._chunk_full(rec, message)
        else:
            self._on_error(rec, message)

    def _on_head(self, rec: Recorder, head: wire.HeadPosition) -> None:
        rec.head_seen = time.monotonic()
        if not head.monotonic_ns:
            return  # a head from before the capture thread's first reading carries no clock
        reading = ClockSnapshot(sample=head.sample, monotonic_ns=head.monotonic_ns, realtime_ns=head.realtime_ns,
                                reason="periodic")
        if not rec.manifest.clocks or rec.manifest.clocks[-1].reason in ("stop", "restart"):
            rec.manifest.clocks.append(reading.model_copy(update={"reason": "start"}))
        if _stale(rec.manifest, head):
            return
        # A clock snapshot from the head now and then, so wall-clock time points map through a recent pin on
        # every stream: MIDI streams seal rarely and so have few chunk-boundary clocks.
        if reading.realtime_ns - rec.manifest.clocks[-1].realtime_ns >= self.config.capture.clock_seconds * NS:
            rec.manifest.clocks.append(reading)
            rec.live_dirty = True
        live = rec.manifest.live
        if live is not None and live.path != head.chunk_path:
            return  # chaosgarden moved on before we sealed the previous chunk: keep its edge until the seal
        if head.chunk_path:
            rec.manifest.live = LiveEdge(path=head.chunk_path, first_sample=head.chunk_first_sample,
                                         head_sample=head.sample, head_bytes=head.byte_position)
        rec.live_dirty = True
        # Only a head whose bytes are readable counts as the clock reading for "now" (wait_for_moment).
        rec.head_clock = reading
        rec.head_moved.set()
        rec.head_moved = asyncio.Event()

    def _on_error(self, rec: Recorder, error: wire.StreamError) -> None:
        rec.xruns = error.xruns
        if error.kind == "deviceLost":
            rec.device_connected = False
        elif error.kind == "deviceBack":
            rec.device_connected = True
        if error.kind != "deviceBack":
            rec.last_error = error.error
            self.db.execute("UPDATE streams SET last_error=? WHERE uri=?", (rec.last_error, rec.definition.uri))
        if error.clock.monotonic_ns:  # an error about a spare (no space, io) reads no clock
            rec.manifest.clocks.append(_clock(error.clock))
        rec.live_dirty = True

    def release_chunks(self, rec: Recorder, gone: list[ChunkRef]) -> None:
        """Drop chunks from the manifest (retention); clocks and gaps before the new start go too."""
        starts = {c.first_sample for c in gone}  # by position: equal content may recur under one digest
        rec.manifest.chunks = [c for c in rec.manifest.chunks if c.first_sample not in starts]
        if rec.manifest.chunks:
            first = rec.manifest.chunks[0].first_sample
            rec.manifest.clocks = [c for c in rec.manifest.clocks if c.sample >= first]
            rec.manifest.gaps = [g for g in rec.manifest.gaps if g.start_sample + g.samples > first]
        self._persist(rec)

    # -- the watch and recovery --------------------------------------------
    async def watch(self) -> None:
        """Persist live edges now and then; notice a silent chaosgarden and reconcile with it."""
        while True:
            await asyncio.sleep(LIVE_PERSIST_INTERVAL_S / 2)
            for rec in list(self.recorders.values()):
                if rec.live_dirty and not rec.lock.locked():
                    rec.live_dirty = False
                    self._persist(rec)
            await self.recovery.reconcile_silent()

    async def recover(self) -> None:
        """At start-up: catch up with what chaosgarden did while hootenanny was away, and say what is there."""
        await self.recovery.recover()

    # -- persistence ---------------------------------------------------------
    def _persist(self, rec: Recorder) -> None:
        if rec.manifest_path is None:
            rec.manifest_path = self.store.create_staging().path
            self.db.execute("UPDATE streams SET manifest_path=? WHERE uri=?", (str(rec.manifest_path),
                                                                              rec.definition.uri))
        manifests.write_atomically(rec.manifest_path, rec.manifest)

    def set_state(self, rec: Recorder, state: str) -> None:
        """Write `rec`'s state ('defined', 'recording', 'stopped') to the catalog."""
        self.db.execute("UPDATE streams SET state=?, updated_ns=? WHERE uri=?", (state, now_ns(), rec.definition.uri))

    def _load(self) -> None:
        for row in self.db.execute("SELECT * FROM streams"):
            definition = StreamDefinition.model_validate_json(row["definition_json"])
            path = Path(row["manifest_path"]) if row["manifest_path"] else None
            manifest = Manifest(stream=definition.uri, definition=definition, definition_digest=row["definition_digest"])
            broken = ""
            if path is not None and path.exists():
                try:
                    manifest = manifests.read(path)
                except manifests.ManifestError as exc:
                    broken = f"{exc}; the file is left as it is for inspection"
                    log.error("%s: %s", definition.uri, broken)
            rec = Recorder(definition, manifest, path, recording=row["state"] == "recording" and not broken,
                           last_error=broken or row["last_error"], broken=broken)
            self.recorders[definition.uri] = rec

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

    def use_session_edges(self, lookup: Callable[[str, int | None, str, str], int]) -> None:
        """Let time points name session edges (the session service provides them)."""
        self._session_edges = lookup

    def session_edge(self, session: str, segment: int | None, edge: str, stream: str) -> int:
        if self._session_edges is None:
            raise ServiceError("notFound", f"session {session!r}: capture sessions are not available")
        return self._session_edges(session, segment, edge, stream)

    # -- status ------------------------------------------------------------
    def status_of(self, rec: Recorder) -> dict[str, Any]:
        m = rec.manifest
        return {
            "uri": rec.definition.uri,
            "state": "broken" if rec.broken else
                     "recording" if rec.recording else ("stopped" if m.chunks or m.gaps else "defined"),
            "head_sample": rec.head_sample,
            "chunks_sealed": len(m.chunks),
            "bytes": sum(c.bytes for c in m.chunks),
            "xruns": rec.xruns,
            "device": rec.definition.device,
            "device_connected": self._device_connected(rec),
            "last_error": rec.last_error,
        }

    def _device_connected(self, rec: Recorder) -> bool:
        """While recording: what chaosgarden last said of the device. Otherwise: the registry, or the last try."""
        if rec.recording:
            return rec.device_connected and not rec.garden_lost
        known = self.devices.connected(rec.definition.device)
        return rec.device_connected if known is None else known and rec.device_connected

    def status(self, uri: str | None = None) -> list[dict[str, Any]]:
        recs = [self._known(uri)] if uri else list(self.recorders.values())
        return [self.status_of(r) for r in recs]


def _clock(clock: wire.ClockSnapshot) -> ClockSnapshot:
    """A clock chaosgarden read, as the manifest keeps it."""
    return ClockSnapshot(sample=clock.sample, monotonic_ns=clock.monotonic_ns, realtime_ns=clock.realtime_ns,
                         midi_ticks=clock.midi_ticks, reason=clock.reason)


def _stale(manifest: Manifest, head: wire.HeadPosition) -> bool:
    """A head that arrives after its chunk was sealed, or behind the live edge we have.

    After a stall, catching up by request (reconcile) can seal chunks before
    the queued head broadcasts about them are read; taking one of those as
    the live edge would pin the edge to a chunk that is already sealed.
    """
    sealed = manifest.chunks[-1].first_sample if manifest.chunks else -1
    if head.chunk_path and head.chunk_first_sample <= sealed:
        return True
    live = manifest.live
    return live is not None and live.path == head.chunk_path and head.sample < live.head_sample
