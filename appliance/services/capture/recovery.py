"""Catching up with chaosgarden: at hootenanny's start, and whenever chaosgarden falls silent.

chaosgarden records on while hootenanny is away. When the two meet again,
the chunks it reported full and never heard acknowledged are sealed, its
spares are topped up, and a stream it stopped meanwhile is finished. A stream
chaosgarden no longer runs (it restarted) keeps its live chunk up to the last
notified head and starts again, the time it was gone recorded as a gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from appliance.config import Config
from appliance.proto import stream_messages as wire
from appliance.proto.channel import RequestError
from appliance.services.capture.chunk_flow import ChunkFlow
from appliance.services.capture.chunk_ledger import ChunkLedger
from appliance.services.capture.garden_link import GardenLink
from appliance.services.capture.manifest import ClockSnapshot, LiveEdge
from appliance.services.capture.recorder import Recorder
from appliance.services.capture.stream_table import StreamTable
from appliance.services.service_error import ServiceError

# Under the stream service's name: recovery's lines are part of a stream's story, and a log filtered by that
# name must still show them.
log = logging.getLogger("appliance.services.capture.streams")

NS = 1_000_000_000


# StreamService.start_locked: have chaosgarden record the stream again, the reason naming the gap.
Restart = Callable[[Recorder, str], Awaitable[None]]


class Recovery:
    """Brings hootenanny's recorders in line with what chaosgarden is doing, one question to it for all streams."""

    def __init__(self, recorders: dict[str, Recorder], flow: ChunkFlow, table: StreamTable, restart: Restart,
                 ledger: ChunkLedger, garden: GardenLink, config: Config) -> None:
        self.recorders = recorders  # the stream service's own dict: streams defined later are looked after too
        self.flow = flow
        self.table = table
        self.restart = restart
        self.ledger = ledger
        self.garden = garden
        self.config = config

    async def recover(self) -> None:
        """At start-up: catch up with what chaosgarden did while hootenanny was away, and say what is there."""
        recording = [rec for rec in self.recorders.values() if rec.recording]
        await self._reconcile_all(recording)
        for rec in recording:
            m = rec.manifest
            log.warning("%s: recovered %d sealed chunks (%d samples) and %d gaps; the stream goes on from "
                        "sample %d", rec.definition.uri, len(m.chunks), sum(c.samples for c in m.chunks),
                        len(m.gaps), m.head_sample)

    async def reconcile_silent(self) -> None:
        """Reconcile the recording streams chaosgarden has sent no head of for a while (it stalled or went away)."""
        silence = 3 * self.config.rt.head_interval_ms / 1000 + 1.0
        silent = [rec for rec in self.recorders.values()
                  if rec.recording and time.monotonic() - rec.head_seen > silence]
        if silent:
            await self._reconcile_all(silent)

    async def _reconcile_all(self, recs: list[Recorder]) -> None:
        # One question for all of them: while chaosgarden is away (starting beside us at boot), each stream
        # asking on its own would hold up hootenanny's start by a timeout per stream.
        if not recs:
            return
        states = await self._garden_states(recs)
        if states is None:
            return
        for rec in recs:
            await self._reconcile(rec, states)

    async def _garden_states(self, recs: list[Recorder]) -> list[wire.StreamState] | None:
        """chaosgarden's view of every stream it runs, or None (and the streams marked lost) when it does not answer."""
        try:
            return await self.garden.stream_states(timeout=1.0, retries=0)
        except RequestError:
            for rec in recs:
                if not rec.garden_lost:
                    log.warning("%s: chaosgarden is not answering; will salvage and restart when it is back",
                                rec.definition.uri)
                rec.garden_lost = True
            return None

    async def _reconcile(self, rec: Recorder, states: list[wire.StreamState]) -> None:
        """Bring `rec` in line with chaosgarden's view of it: take what it sealed, then go on, finish or restart."""
        state = next((s for s in states if s.uri == rec.definition.uri), None)
        async with rec.lock:
            if state is not None and state.running:
                rec.head_seen, rec.garden_lost = time.monotonic(), False
                await self.flow.take_unacknowledged(rec, state)
                await self._top_up_spares(rec, state)
            elif state is not None:
                await self.flow.take_unacknowledged(rec, state)
                if rec.recording:
                    self.flow.finish(rec)
            else:
                await self._salvage_and_restart(rec)

    async def _top_up_spares(self, rec: Recorder, state: wire.StreamState) -> None:
        for _ in range(self.config.rt.spare_chunks - len(state.spare_paths)):
            await self.flow.spare(rec)

    async def _salvage_and_restart(self, rec: Recorder) -> None:
        """chaosgarden lost the stream (it restarted): keep the live chunk up to the last head, go on."""
        live = rec.manifest.live
        if live is not None and live.head_bytes > 0 and Path(live.path).exists():
            log.warning("%s: chaosgarden restarted; sealing %d bytes up to sample %d",
                        rec.definition.uri, live.head_bytes, live.head_sample)
            self.flow.seal_into_manifest(rec, _salvaged(rec, live))
        rec.manifest.live = None
        edge = rec.head_sample
        real = _realtime_of(rec, edge)
        rec.manifest.clocks.append(ClockSnapshot(sample=edge, realtime_ns=real, reason="restart",
                                                 monotonic_ns=real - time.time_ns() + time.monotonic_ns()))
        self.ledger.release_all(rec.definition.uri)
        rec.recording = False
        try:
            await self.restart(rec, "chaosgarden restart")
        except ServiceError as exc:
            rec.last_error = exc.message
            if exc.code == "unavailable":
                # It went away again before answering: still meant to record, so try when it is back.
                rec.recording, rec.garden_lost, rec.head_seen = True, True, time.monotonic()
                log.warning("%s: chaosgarden went away again while restarting the stream; will try again",
                            rec.definition.uri)
                return
            self.table.set_state(rec, "stopped")
            log.error("%s: could not restart after chaosgarden came back: %s", rec.definition.uri, exc.message)


def _salvaged(rec: Recorder, live: LiveEdge) -> wire.ChunkFull:
    """The live chunk as far as the last head, as chaosgarden would have reported it full had it not gone away.

    Its clock is ours: the realtime extrapolated to the head, and no monotonic reading (chaosgarden's clock went
    with it).
    """
    clock = wire.ClockSnapshot(sample=live.head_sample, monotonic_ns=0, realtime_ns=_realtime_of(rec, live.head_sample),
                               reason="restart")
    return wire.ChunkFull(stream_uri=rec.definition.uri, path=live.path, bytes_written=live.head_bytes,
                          samples_written=live.head_sample - live.first_sample, first_sample=live.first_sample,
                          clock=clock)


def _realtime_of(rec: Recorder, sample: int) -> int:
    """CLOCK_REALTIME of `sample`, extrapolated from the newest snapshot at the nominal rate."""
    if not rec.manifest.clocks:
        return time.time_ns()
    last = rec.manifest.clocks[-1]
    return last.realtime_ns + (sample - last.sample) * NS // rec.definition.sample_rate
