"""The chunks of every recording, from chaosgarden to CAS.

chaosgarden writes into chunk files hootenanny hands it (a spare ahead of
each one in use). When one is full, chaosgarden says so; hootenanny seals it
into CAS, records it in the manifest before the staging name goes, then
acknowledges it and hands over a fresh spare. The chunk ledger remembers
every file handed out, so a restart of either side knows what is whose.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.cas import ContentStore, SealError
from appliance.config import Config
from appliance.proto import stream_messages as wire
from appliance.proto.channel import RequestError
from appliance.proto.midi_record import iter_records
from appliance.proto.stream_definition import StreamKind
from appliance.services.capture.chunk_ledger import ChunkLedger
from appliance.services.capture.garden_link import GardenLink
from appliance.services.capture.manifest import ChunkRef, ClockSnapshot
from appliance.services.capture.recorder import Recorder
from appliance.services.capture.stream_table import StreamTable

log = logging.getLogger("appliance.services.capture.streams")

MIB = 1 << 20
FREE_SPACE = "Free space (studio cas gc, stream_retention) and start the stream again"
Publish = Callable[[str, str, Any], None]  # topic, kind, value (Publisher.publish)
StopSoon = Callable[[Recorder, str], None]  # stop a recording that cannot go on, saying why


class ChunkFlow:
    """Spares out, full chunks sealed and acknowledged, and the end of a recording; each step with the stream's
    lock held."""

    def __init__(self, store: ContentStore, garden: GardenLink, ledger: ChunkLedger, table: StreamTable,
                 config: Config, publish: Publish, stop_soon: StopSoon) -> None:
        self.store, self.garden, self.ledger, self.table = store, garden, ledger, table
        self.config, self.publish, self.stop_soon = config, publish, stop_soon

    def disk_short(self, rec: Recorder) -> str:
        """Why no further chunk may be handed out (the data disk is nearly full), or ''."""
        free = shutil.disk_usage(self.store.root).free
        chunk, reserve = rec.definition.chunk_bytes, self.config.capture.disk_reserve_mb * MIB
        if free >= chunk + reserve:
            return ""
        return (f"disk full: {free / MIB:.1f} MiB free under {self.store.root}, less than one chunk "
                f"({chunk / MIB:.1f} MiB) plus the reserve ({reserve / MIB:.0f} MiB, capture.disk_reserve_mb)")

    async def spare(self, rec: Recorder) -> None:
        """Hand chaosgarden one more chunk file for `rec`, or stop it when the disk is too full."""
        short = self.disk_short(rec)
        if short:
            self.stop_soon(rec, f"{short}; recording stopped at sample {rec.manifest.head_sample}. {FREE_SPACE}")
            return
        path = self.ledger.hand_out(rec.definition.uri)
        try:
            await self.garden.send(wire.SwitchChunk(uri=rec.definition.uri, new_chunk_path=path))
        except RequestError as exc:
            self.ledger.forget(path)
            if "No space left on device" in exc.message:  # the reserve was not enough: stop all the same
                self.stop_soon(rec, f"disk full: {exc.message}; recording stopped")
            elif exc.code != "notFound":
                log.warning("%s: spare chunk not taken: %s", rec.definition.uri, exc.message)

    async def chunk_full(self, rec: Recorder, full: wire.ChunkFull) -> None:
        """chaosgarden filled a chunk (or stopped, when `full.final`): seal, acknowledge, and hand a spare."""
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
                    rec.manifest.clocks.append(manifest_clock(full.clock))
                self.finish(rec)
        elif rec.recording and path and chunk is not None:
            await self.spare(rec)

    async def take_unacknowledged(self, rec: Recorder, state: wire.StreamState) -> None:
        """Seal the chunks chaosgarden reported full and we have not acknowledged, in order."""
        for full in sorted(state.unacknowledged, key=lambda f: f.first_sample):
            await self.chunk_full(rec, full)

    def seal_into_manifest(self, rec: Recorder, full: wire.ChunkFull) -> None:
        """Seal the chunk `full` reports into CAS and record it in the manifest; raises SealError."""
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
        rec.manifest.clocks.append(manifest_clock(full.clock))
        if rec.manifest.live is not None and rec.manifest.live.path == str(path):
            rec.manifest.live = None
        self.table.persist(rec)
        self.ledger.sealed(str(path), digest)
        self.publish("stream.sealed", wire.ChunkFull.KIND, replace(full, path=digest))

    def _span(self, rec: Recorder, digest: str, full: wire.ChunkFull) -> tuple[int, int]:
        """The samples a sealed chunk covers: as written for audio; from its first to its last record for MIDI."""
        if rec.definition.kind is StreamKind.AUDIO:
            return full.first_sample, full.samples_written
        samples = [r.sample for r in iter_records(self.store.path(digest).read_bytes())]
        return (samples[0], samples[-1] - samples[0] + 1) if samples else (full.clock.sample, 0)

    async def _acknowledge(self, rec: Recorder, path: str) -> None:
        try:
            await self.garden.send(wire.ChunkSealed(uri=rec.definition.uri, path=path), retries=1)
        except RequestError as exc:
            if exc.code not in ("notFound", "unavailable"):
                raise

    def finish(self, rec: Recorder) -> None:
        """`rec` stopped recording: drop its unused spares and store its manifest in CAS."""
        rec.recording = False
        rec.manifest.state = "stopped"
        rec.manifest.live = None
        self.ledger.release_unsealed(rec.definition.uri)
        digest = self.table.stopped(rec)
        log.info("%s stopped at sample %d; manifest %s", rec.definition.uri, rec.manifest.head_sample, digest)

    def release(self, rec: Recorder, gone: list[ChunkRef]) -> None:
        """Drop chunks from the manifest (retention); clocks and gaps before the new start go too."""
        starts = {c.first_sample for c in gone}  # by position: equal content may recur under one digest
        rec.manifest.chunks = [c for c in rec.manifest.chunks if c.first_sample not in starts]
        if rec.manifest.chunks:
            first = rec.manifest.chunks[0].first_sample
            rec.manifest.clocks = [c for c in rec.manifest.clocks if c.sample >= first]
            rec.manifest.gaps = [g for g in rec.manifest.gaps if g.start_sample + g.samples > first]
        self.table.persist(rec)


def manifest_clock(clock: wire.ClockSnapshot) -> ClockSnapshot:
    """A clock chaosgarden read, as the manifest keeps it."""
    return ClockSnapshot(sample=clock.sample, monotonic_ns=clock.monotonic_ns, realtime_ns=clock.realtime_ns,
                         midi_ticks=clock.midi_ticks, reason=clock.reason)
