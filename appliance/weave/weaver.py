"""The Weaver: one vibeweaver's kernel, store, state, scheduler and API wired together.

It is what the tools call (eval, session summary, reset) and where
broadcasts land: each one updates KernelState first, then fires the rules it
matches. Sessions own rules, markers and history; switching session reloads
the scheduler and re-creates `python` rules from their source.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from appliance.cas import ContentStore
from appliance.config import Config
from appliance.proto.codec import BodyError
from appliance.proto.artifact_messages import ArtifactCreated
from appliance.proto.job_messages import JobEvent
from appliance.proto.pubsub import Broadcast
from appliance.proto.transport_messages import BeatTick, Marker, TransportStateChanged
from appliance.proto.typed_bodies import typed_value
from appliance.weave.actions import ActionRunner
from appliance.weave.api import KernelApi
from appliance.weave.box_client import BoxClient, Request
from appliance.weave.broadcast_state import JobInfo, KernelState
from appliance.weave.http_spaces import parse_spaces
from appliance.weave.kernel import CellResult, Kernel
from appliance.weave.results import (
    HistoryInfo,
    MarkerInfo,
    RecentArtifact,
    ResetResult,
    RuleInfo,
    RunningJob,
    SessionInfo,
    SessionSummary,
    TransportInfo,
)
from appliance.weave.rules import Rule
from appliance.weave.sampler import Sampler
from appliance.weave.scheduler import Event, Firing, Scheduler
from appliance.weave.session_store import HistoryEntry, Session, SessionStore

log = logging.getLogger(__name__)

DEFAULT_SESSION = "default"
SNAPSHOT_SECONDS = 5.0
# Output longer than this is cut in summaries (the full text stays in history).
SUMMARY_TEXT_CHARS = 500
DRAIN_SECONDS = 5.0


class Weaver:
    """Everything vibeweaver does, minus the sockets."""

    def __init__(self, config: Config, request: Request) -> None:
        weave = config.weave
        self.config = config
        self.store = SessionStore(config.data_dir / "vibeweaver" / "weave.db", weave.history_limit)
        self.state = KernelState()
        self.kernel = Kernel(weave.cell_timeout_seconds)
        self.scheduler = Scheduler(self._estimate)
        self.box = BoxClient(request)
        self.sampler = Sampler(self.box, self.state, self.store,
                               parse_spaces(weave.generators, weave.generator_timeout_seconds),
                               ContentStore(config.data_dir / "cas"), weave.generator_timeout_seconds)
        self.actions = ActionRunner(self.kernel, self.box, self.sampler, self.scheduler, self.store, self.state)
        self.api = KernelApi(self)
        self.session = Session("", "", "", None, 0.0)
        self.io_loop: asyncio.AbstractEventLoop | None = None  # set by start(); the API hands box calls to it
        self._snapshot_ns = 0

    def _estimate(self, space: str) -> float | None:
        timing = self.store.timing(space)
        return timing.ewma_seconds if timing is not None else None

    @property
    def started_loop(self) -> asyncio.AbstractEventLoop:
        """The loop box calls run on; the kernel's API is in use only after start() set it."""
        if self.io_loop is None:
            raise RuntimeError("vibeweaver has not started: no loop for box calls yet")
        return self.io_loop

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Restore the last snapshot, start the kernel, and resume the last session (or `default`)."""
        self.io_loop = asyncio.get_running_loop()
        snapshot = self.store.latest_snapshot()
        if snapshot is not None:
            try:
                self.state.restore(snapshot)
            except BodyError as exc:
                log.warning("ignoring an unreadable kernel snapshot: %s", exc)
        self.scheduler.set_tempo(self.state.tempo_bpm)
        self.kernel.start()
        self.kernel.inject(self.api.names(), self.api.views())
        last = self.store.session(self.state.session_id) if self.state.session_id else None
        await self.kernel.call(lambda: self.open_session(last.name if last else DEFAULT_SESSION, None, True))
        log.info("session %s resumed with %d rules", self.session.name, len(self.scheduler.rules()))

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.actions.drain(), DRAIN_SECONDS)
        except TimeoutError:
            log.warning("rule actions still running at shutdown are abandoned")
        self.snapshot()
        self.kernel.close()
        self.store.close()

    def snapshot(self) -> None:
        """Store KernelState if it changed since the last snapshot."""
        if self.state.updated_ns != self._snapshot_ns:
            self._snapshot_ns = self.state.updated_ns
            self.store.save_snapshot(self.state.snapshot())

    async def keep_snapshots(self) -> None:
        """Snapshot every few seconds, until cancelled."""
        while True:
            await asyncio.sleep(SNAPSHOT_SECONDS)
            self.snapshot()

    # -- sessions and rules ----------------------------------------------------------
    def open_session(self, name: str, vibe: str | None, load: bool) -> dict[str, Any]:
        """Make `name` the active session (kernel thread: python rules are rebuilt in its globals)."""
        existing = self.store.session_by_name(name)
        if existing is not None and not load:
            raise ValueError(f"session {name!r} already exists: session({name!r}) resumes it; "
                             "pick another name to start fresh")
        session = existing or self.store.create_session(name, vibe or "")
        if existing is not None and vibe is not None:
            self.store.update_session(session.id, vibe=vibe)
            session = self.store.session(session.id) or session
        self.session = session
        self.state.set_session(session.id, session.name, session.vibe)
        self.snapshot()  # the active session must survive a crash, not only the next periodic snapshot
        self.actions.forget()
        rules = self.store.rules(session.id)
        self.scheduler.load(rules)
        for rule in rules:
            if rule.enabled and rule.action.type == "python":
                try:
                    self.actions.function(rule)
                except Exception as exc:  # a stored rule that no longer compiles must not block the session
                    self.actions.fail(rule, f"cannot re-create: {type(exc).__name__}: {exc}")
        return {"session": session.name, "vibe": session.vibe, "rules": len(rules),
                "markers": len(self.store.markers(session.id))}

    def add_rule(self, rule: Rule) -> Rule:
        saved = self.store.save_rule(rule)
        self.scheduler.add(saved)
        return saved

    def remove_rule(self, rule_id: str) -> Rule | None:
        """Drop a rule from the scheduler and the store; None if it had already fired or never existed."""
        removed = self.scheduler.remove(rule_id)
        self.store.delete_rule(rule_id)
        return removed

    # -- tools -----------------------------------------------------------------------
    async def eval(self, code: str) -> CellResult:
        result = await self.kernel.execute(code)
        # History keeps the repr only, never the picture's PNG: it lives in sqlite for the session's life and comes
        # back in weave_session summaries, where megabytes a cell would crowd out the text an agent resumes from;
        # the repr ("<Figure size 640x480 ...>") says what was shown, and the cell's code can draw it again.
        self.store.record(self.session.id, HistoryEntry(
            "eval", result.execution_count, code=code, result=result.result, stdout=result.stdout,
            stderr=result.stderr, success=result.success, error=result.error))
        return result

    async def reset(self, clear_session: bool) -> ResetResult:
        """Clear globals (keeping builtins and the API); with clear_session also the session's rules and more."""
        await self.kernel.reset()
        if clear_session:
            self.store.clear_session(self.session.id)
        await self.kernel.call(lambda: self.open_session(self.session.name, None, True))
        return ResetResult(globals_cleared=True, session_cleared=clear_session, session=self.session.name,
                           rules=len(self.scheduler.rules()))

    def summary(self, history: int = 20) -> SessionSummary:
        """What an agent needs to pick up where it (or another agent) left off."""
        view = self.state.view()
        session = self.store.session(self.session.id) or self.session
        rules = [RuleInfo.model_validate(r.summary()) for r in self.store.rules(session.id)]
        return SessionSummary(
            session=SessionInfo(id=session.id, name=session.name, created_at=session.created_at),
            vibe=session.vibe,
            tempo=view.tempo_bpm,
            transport=TransportInfo(state=view.transport, tempo=view.tempo_bpm, beat=view.beat),
            beat=view.beat,
            rules=[r for r in rules if r.enabled],
            disabled_rules=[r for r in rules if not r.enabled],
            markers=[MarkerInfo(name=m.name, beat=m.beat, metadata=m.metadata) for m in self.store.markers(session.id)],
            history=[_history(h) for h in self.store.history(session.id, history)],
            jobs=[RunningJob(id=j.id, state=j.state, space=j.space, artifact_id=j.artifact_id, error=j.error)
                  for j in view.jobs if not j.finished],
            recent_artifacts=[RecentArtifact(id=a.id, mime=a.mime, tags=list(a.tags))
                              for a in view.recent_artifacts[-10:]],
            spaces=self.sampler.spaces,
            execution_count=self.kernel.execution_count,
            sessions=[s.name for s in self.store.sessions()],
        )

    # -- broadcasts --------------------------------------------------------------------
    def on_broadcast(self, broadcast: Broadcast) -> None:
        """Fold a broadcast into KernelState, then fire the rules it matches (I/O loop)."""
        value = typed_value(broadcast.body)
        if not self.state.apply(value):
            return
        firings: list[Firing] = []
        if isinstance(value, BeatTick):
            self.scheduler.set_tempo(value.tempo_bpm)
            for rule in self.scheduler.match_beat(value.beat):
                kind = "deadline" if rule.trigger.type == "deadline" else "beat"
                firings.append(Firing(rule, Event(kind, value.beat, {"tempo": value.tempo_bpm})))
        elif isinstance(value, TransportStateChanged):
            self.scheduler.set_tempo(value.tempo_bpm)
            event = Event("transport", value.beat, {"state": value.state, "tempo": value.tempo_bpm})
            firings = [Firing(r, event) for r in self.scheduler.match_transport(value.state, value.beat)]
        elif isinstance(value, Marker):
            event = Event("marker", value.beat, {"name": value.name, "metadata_json": value.metadata_json})
            firings = [Firing(r, event) for r in self.scheduler.match_marker(value.name)]
        elif isinstance(value, ArtifactCreated):
            artifact = self.state.artifact(value.artifact_id)
            event = Event("artifact", self.state.beat, {"artifact": artifact})
            firings = [Firing(r, event) for r in self.scheduler.match_artifact(value.tags)]
        elif isinstance(value, JobEvent):
            job = self.state.job(value.job_id) or JobInfo(value.job_id, value.state, value.space)
            self.sampler.on_job(job)
            if job.state == "complete":
                event = Event("job_complete", self.state.beat, {"job_id": job.id, "space": job.space,
                                                                "artifact_id": job.artifact_id})
                firings = [Firing(r, event) for r in self.scheduler.match_job(job.id, job.space)]
        if firings:
            counts, spent = self.scheduler.fired([f.rule for f in firings])
            self.store.rules_fired(counts, spent)
            self.actions.dispatch(firings)


def _history(entry: HistoryEntry) -> HistoryInfo:
    return HistoryInfo(kind=entry.kind, execution_count=entry.execution_count, rule_id=entry.rule_id,
                       code=entry.code, result=entry.result, success=entry.success, error=entry.error,
                       stdout=(entry.stdout or "")[-SUMMARY_TEXT_CHARS:], created_at=entry.created_at)
