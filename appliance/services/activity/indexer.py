"""Keeps the activity index up with the sealed chunks of every stream (runs in hootenanny).

Every second it looks for streams whose sealed chunks reach past what is
indexed, and indexes the difference in a worker thread, at most
`STEP_SECONDS` at a time so memory stays bounded. Only sealed chunks are read:
the index never changes for a sample once written, and a restart resumes from
`indexed_to`. A hole (audio released before it was indexed, or lost) is
skipped; gaps the manifest records are indexed as the silence they are.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mido

from appliance.cas import ContentStore
from appliance.proto.stream_definition import StreamKind
from appliance.services.activity.activity_store import ActivityStore, IndexedStream
from appliance.services.activity.block_figures import block_samples, measure_blocks
from appliance.services.analysis.window_samples import read_audio
from appliance.services.capture.manifest import Manifest
from appliance.services.capture.recorder import Recorder
from appliance.services.slicing.midi_export import RunningStatus
from appliance.services.slicing.slicer import SliceError, SlicePlan, plan_slice, read_records

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
STEP_SECONDS = 10  # audio read per step: 8 channels at 48 kHz are 15 MB of float32
INDEX_NICE = 10


@dataclass(frozen=True)
class Step:
    """A range to index: `bare` is its samples; `led` the same with the block before it, the onset detector's
    history (None when that block is not recorded)."""

    stream: IndexedStream
    bare: SlicePlan
    led: SlicePlan | None = None


class ActivityIndexer:
    def __init__(self, recorders: dict[str, Recorder], store: ContentStore, index: ActivityStore) -> None:
        self.recorders, self.store, self.index = recorders, store, index
        # One thread of its own at a lower priority: catching up hours of backlog (a box updated to this
        # version) must not slow the slices and tool calls that share hootenanny's default executor.
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="activity-index", initializer=_lower_priority)

    async def run(self) -> None:
        while True:
            try:
                await self.catch_up()
            except Exception:  # the index is a convenience: its failure must not stop hootenanny serving
                log.exception("activity index: catching up failed; trying again in %g s", POLL_SECONDS)
            await asyncio.sleep(POLL_SECONDS)

    async def catch_up(self) -> None:
        """Index every stream up to its newest sealed chunk."""
        loop = asyncio.get_running_loop()
        for uri in list(self.recorders):
            while (step := self._next_step(uri)) is not None:
                try:
                    await loop.run_in_executor(self.worker, self._index, step)
                except SliceError as exc:
                    # Released by retention meanwhile, or a chunk that fails its digest: either way these samples
                    # cannot be read again, and trying every second would only repeat the error.
                    log.warning("activity index of %s: samples %d..%d left out: %s", uri, step.bare.start,
                                step.bare.end, exc)
                    self.index.skip_to(uri, step.bare.end)

    def _next_step(self, uri: str) -> Step | None:
        """The next range of `uri` to index, planned on the event loop."""
        rec = self.recorders.get(uri)
        if rec is None or not rec.manifest.chunks:
            return None
        manifest = rec.manifest.model_copy(update={"live": None, "chunks": list(rec.manifest.chunks),
                                                   "gaps": list(rec.manifest.gaps)})
        stream = self._stream(manifest)
        sealed_end = manifest.chunks[-1].end_sample
        if manifest.definition.kind is StreamKind.MIDI:
            if sealed_end <= stream.indexed_to:
                return None
            return Step(stream, plan_slice(manifest, stream.indexed_to, sealed_end))
        size = stream.block_samples
        start = self._past_holes(manifest, stream)
        # A step ends with the chunk it starts in (at least one block on), so a chunk that cannot be read costs
        # only its own samples.
        chunk_end = next((c.end_sample for c in manifest.chunks if c.first_sample <= start < c.end_sample), start)
        end = min(sealed_end // size * size, start + STEP_SECONDS * stream.sample_rate // size * size,
                  max(chunk_end // size * size, start + size))
        if end <= start:
            return None
        bare = plan_slice(manifest, start, end)
        led = plan_slice(manifest, start - size, end) if _covered(manifest, start - size, start) else None
        return Step(stream, bare, led)

    def _stream(self, manifest: Manifest) -> IndexedStream:
        definition = manifest.definition
        known = self.index.stream(manifest.stream)
        size = block_samples(definition.sample_rate)
        if known is not None and (known.sample_rate, known.channels, known.kind) == (
                definition.sample_rate, definition.channels, definition.kind.value):
            return known
        first = manifest.chunks[0].first_sample
        if definition.kind is StreamKind.AUDIO:
            first = math.ceil(first / size) * size  # whole blocks only
        stream = IndexedStream(manifest.stream, definition.kind.value, definition.sample_rate, definition.channels,
                               size, first, max(first, known.indexed_to if known else 0))
        self.index.begin(stream)
        return stream

    def _past_holes(self, manifest: Manifest, stream: IndexedStream) -> int:
        """Where indexing goes on: `indexed_to`, or the block after a hole the audio left."""
        start = stream.indexed_to
        if not _covered(manifest, start, start + 1):
            following = [c.first_sample for c in manifest.chunks if c.end_sample > start]
            if not following:
                return start
            start = math.ceil(min(following) / stream.block_samples) * stream.block_samples
            self.index.skip_to(stream.uri, start)
        return start

    # -- in a worker thread ------------------------------------------------
    def _index(self, step: Step) -> None:
        stream = step.stream
        if stream.kind == StreamKind.MIDI.value:
            self.index.add_note_events(stream.uri, _note_events(step.bare, self.store), step.bare.end)
            return
        channels = list(range(stream.channels))
        try:
            samples, lead = read_audio(step.led or step.bare, self.store, channels), 1 if step.led else 0
        except SliceError:
            if step.led is None:
                raise
            samples, lead = read_audio(step.bare, self.store, channels), 0  # the block before is unreadable
        figures = measure_blocks(samples, stream.sample_rate, lead)
        self.index.add_blocks(stream.uri, step.bare.start // stream.block_samples, figures, step.bare.end)


def _lower_priority() -> None:
    """Nice this thread (Linux schedules threads one by one) so indexing yields the CPU to everything else."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INDEX_NICE)
    except OSError as exc:
        log.warning("activity index runs at normal priority: %s", exc)


def _covered(manifest: Manifest, first: int, end: int) -> bool:
    """Whether sealed chunks or recorded gaps hold every sample of [first, end)."""
    if first < 0:
        return False
    try:
        plan_slice(manifest, first, end)
    except SliceError:
        return False
    return True


def _note_events(plan: SlicePlan, store: ContentStore) -> list[tuple[int, int, int, int]]:
    """Note ons and offs in the plan's window as (sample, pitch, velocity, channel); an off has velocity 0."""
    parser, running = mido.Parser(), RunningStatus()
    events = []
    for record in read_records(plan, store):
        parser.feed(running.expand(record.data))
        for message in parser:
            if plan.start <= record.sample < plan.end and message.type in ("note_on", "note_off"):
                velocity = message.velocity if message.type == "note_on" else 0
                events.append((record.sample, message.note, velocity, message.channel))
    return events
