"""The beat clock, markers and timeline as chaosgarden's control thread serves them, kept across restarts.

Each command that changes them (transport, tempo, marker, region placed or
removed) is saved before it is answered (see saved_timeline.py); at start
the saved tempo, markers and regions come back, and a transport that was
playing plays on from the beat it would have reached. chaosgarden keeps this
itself because it alone knows the tempo map exactly and must come back
playing whether or not hootenanny is there to tell it what it had.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from appliance.config import Config
from appliance.proto.audition_messages import Audition, AuditionReply
from appliance.proto.codec import Body, WireMessage
from appliance.proto.timeline_messages import TIMELINE_REMOVED, TimelineContents, TimelineRegion, TimelineSnapshot
from appliance.proto.transport_messages import TRANSPORT_REPLY, Marker, TransportCommand
from appliance.rt.beat_clock import SampleClock, TempoMapView
from appliance.rt.link_sync import LinkSync
from appliance.rt.player import Player
from appliance.rt.saved_timeline import SavedTimeline
from appliance.rt.transport import MAX_BPM, MIN_BPM, TransportControl

log = logging.getLogger(__name__)

SAVED_FILE = "chaosgarden/timeline.bin"


class Timekeeper:
    def __init__(self, config: Config, clock: SampleClock) -> None:
        self.transport = TransportControl(clock, config.rt.beat_resolution, config.rt.priority)
        self.player = Player(config.rt, clock, self.transport.transport)
        self.transport.horizon_frames = self.player.horizon_frames
        self.link = LinkSync(config.rt.link, TempoMapView(self.transport.transport).tempo_now, self._follow_link)
        self.transport.reports = lambda: (self.player.outputs(), self.link.status())
        self.saved = SavedTimeline(config.data_dir / SAVED_FILE)
        self._transport_saved = self.transport.state()
        self._restoring: asyncio.Task[None] | None = None
        self._saving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the clock and output threads, then put back what was saved: regions decode in the background."""
        self.transport.start()
        self.player.start()
        saved = self.saved.load()
        if saved is not None:
            self._resume(saved)
        self.link.start()  # with the saved tempo: a leader imposes it, a follower soon hears the session's

    def _resume(self, saved: TimelineSnapshot) -> None:
        self._transport_saved = self.transport.resume(saved.transport)
        for marker in saved.timeline.markers:
            self.transport.marker(marker)
        regions = saved.timeline.regions
        log.info("resumed the timeline: %s at beat %.3f, %g bpm, %d markers, %d regions",
                 self._transport_saved.state, self._transport_saved.beat, self._transport_saved.tempo_bpm,
                 len(saved.timeline.markers), len(regions))
        if regions:
            self._restoring = asyncio.create_task(self._restore(regions))

    async def _restore(self, regions: Sequence[TimelineRegion]) -> None:
        dropped = await self.player.restore(regions)
        for why in dropped:
            log.warning("saved region not restored: %s", why)
        if dropped:
            await self._save()

    def stop(self) -> None:
        if self._restoring is not None:
            self._restoring.cancel()
        self.link.stop()
        self.transport.stop()
        self.player.stop()

    # -- commands ------------------------------------------------------------
    async def transport_command(self, command: TransportCommand) -> Body:
        state = self.transport.command(command)
        if command.verb != "status":
            self._transport_saved = state
            if command.verb == "tempo":
                self.link.told(state.tempo_bpm)
            await self._save()
        return Body(TRANSPORT_REPLY, state)

    def _follow_link(self, bpm: float) -> None:
        """The Link session's tempo, taken as a tempo command (rt.link = "follow")."""
        self._transport_saved = self.transport.command(
            TransportCommand(verb="tempo", argument=min(max(bpm, MIN_BPM), MAX_BPM)))
        task = asyncio.ensure_future(self._save())
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def marker(self, marker: Marker) -> Body:
        self.transport.marker(marker)
        await self._save()
        return Body("ack")

    async def schedule(self, region: TimelineRegion) -> Body:
        await self.player.schedule(region)
        await self._save()
        return Body("ack")

    async def remove(self, region_id: str) -> Body:
        removed = self.player.remove(region_id)
        await self._save()
        return Body(TIMELINE_REMOVED, removed)

    async def contents(self, _value: None) -> Body:
        return Body(TimelineContents.KIND, self._contents())

    async def audition(self, audition: Audition) -> Body:
        return Body(AuditionReply.KIND, await self.player.audition(audition))

    # -- events and saving -----------------------------------------------------
    def collect(self) -> list[tuple[str, str, WireMessage]]:
        return [*self.transport.collect(), *self.player.collect()]

    def _contents(self) -> TimelineContents:
        return TimelineContents(regions=tuple(self.player.regions()), markers=tuple(self.transport.marker_list()))

    async def _save(self) -> None:
        await self.saved.save(TimelineSnapshot(transport=self._transport_saved, timeline=self._contents()))
