"""Running what fired rules ask for: box actions, samples, notifications, and Python on the kernel.

Each firing runs as its own task, started in priority order. A rule whose
action raises is written to history and disabled; the other rules keep
firing (the music keeps going). `python` actions call the function the
decorator kept, or re-create it from the stored source after a restart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

from appliance.weave.box_client import BoxClient
from appliance.weave.broadcast_state import Artifact, KernelState
from appliance.weave.cells import register_source
from appliance.weave.kernel import Kernel
from appliance.weave.rules import Rule
from appliance.weave.sampler import Sampler
from appliance.weave.scheduler import Event, Firing, Scheduler
from appliance.weave.session_store import HistoryEntry, SessionStore

log = logging.getLogger(__name__)

BEATS_PER_BAR = 4


class ActionRunner:
    """Performs firings on behalf of the scheduler."""

    def __init__(self, kernel: Kernel, box: BoxClient, sampler: Sampler, scheduler: Scheduler, store: SessionStore,
                 state: KernelState) -> None:
        self.kernel = kernel
        self.box = box
        self.sampler = sampler
        self.scheduler = scheduler
        self.store = store
        self.state = state
        # rule id -> (source, function): the live function a decorator was given, or one rebuilt from source.
        self._functions: dict[str, tuple[str, Callable[..., Any]]] = {}
        # rule id -> where the artifact of a deadline sample goes (a LatentRef waiting for it).
        self.completions: dict[str, concurrent.futures.Future[Artifact]] = {}
        # Rules whose function raised; a firing already queued behind the failing one is skipped, not re-reported.
        self._broken: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, rule_id: str, source: str, function: Callable[..., Any]) -> None:
        self._functions[rule_id] = (source, function)
        self._broken.discard(rule_id)

    def forget(self) -> None:
        """Drop every kept function (the session changed or globals were reset)."""
        self._functions.clear()
        self._broken.clear()

    def dispatch(self, firings: list[Firing]) -> None:
        """Start each firing as a task, in order (the scheduler gives priority order)."""
        for firing in firings:
            task = asyncio.ensure_future(self.run(firing))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the firings already started (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self, firing: Firing) -> None:
        rule = firing.rule
        if not rule.enabled:
            return  # it failed after this firing was dispatched
        try:
            await self._perform(rule, firing.event)
        except Exception as exc:
            self.fail(rule, f"{type(exc).__name__}: {exc}")

    def fail(self, rule: Rule, error: str) -> None:
        """Disable `rule` and say why in history and the log."""
        log.warning("rule %s (%s) failed and is disabled: %s", rule.name, rule.id, error.splitlines()[-1])
        self.scheduler.disable(rule.id, error)
        self.store.disable_rule(rule.id, error)
        self.store.record(rule.session_id, HistoryEntry("rule_error", rule_id=rule.id, success=False, error=error,
                                                        code=rule.name))
        waiting = self.completions.pop(rule.id, None)
        if waiting is not None and not waiting.done():
            waiting.set_exception(RuntimeError(error))

    async def _perform(self, rule: Rule, event: Event) -> None:
        action = rule.action
        kind = action.type
        if kind == "python":
            await self._python(rule, event)
        elif kind in ("sample", "sample_and_schedule"):
            artifact = await self.sampler.sample(action.space, action.prompt, action.inference, action.tags)
            waiting = self.completions.pop(rule.id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(artifact)
            if kind == "sample_and_schedule":
                await self.box.schedule(artifact.id, self.at_or_next_bar(action.at), action.duration, action.gain)
        elif kind == "schedule":
            await self.box.schedule(self._artifact_id(action.artifact_id, event), self.at_or_next_bar(action.at),
                                    action.duration, action.gain)
        elif kind == "audition":
            await self.box.audition(self._artifact_id(action.artifact_id, event), action.duration)
        elif kind in ("play", "pause", "stop"):
            await getattr(self.box, kind)()
        elif kind == "seek":
            await self.box.seek(action.beat)
        elif kind == "notify":
            log.info("rule %s: %s", rule.name, action.message)
            self.store.record(rule.session_id, HistoryEntry("notify", rule_id=rule.id, result=action.message,
                                                            code=rule.name))

    def at_or_next_bar(self, at: float | None) -> float:
        """An explicit beat, or the next bar line after the current beat."""
        if at is not None:
            return at
        return (math.floor(self.state.beat / BEATS_PER_BAR) + 1) * BEATS_PER_BAR

    @staticmethod
    def _artifact_id(artifact_id: str, event: Event) -> str:
        if artifact_id:
            return artifact_id
        artifact = event.details.get("artifact")
        if not isinstance(artifact, Artifact):
            raise ValueError("the action names no artifact_id and the trigger was not an artifact")
        return artifact.id

    async def _python(self, rule: Rule, event: Event) -> None:
        outcome = await self.kernel.run(lambda: self._call(rule, event), self.kernel.cell_timeout,
                                        f"rule {rule.name}")
        if not outcome.success:
            self.fail(rule, outcome.error or "failed")
        elif outcome.stdout or outcome.stderr:
            self.store.record(rule.session_id, HistoryEntry("rule", rule_id=rule.id, code=rule.name,
                                                            stdout=outcome.stdout, stderr=outcome.stderr))

    async def _call(self, rule: Rule, event: Event) -> Any:
        if rule.id in self._broken:
            return None
        try:
            function = self.function(rule)
            takes_event = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                              for p in inspect.signature(function).parameters.values())
            result = function(event) if takes_event else function()
            if inspect.isawaitable(result):
                result = await result
        except BaseException:
            self._broken.add(rule.id)
            raise
        return result

    def function(self, rule: Rule) -> Callable[..., Any]:
        """The rule's function; rebuilt from its source into the kernel's globals when not kept (kernel thread)."""
        kept = self._functions.get(rule.id)
        if kept is not None and kept[0] == rule.action.source:
            return kept[1]
        filename = f"<rule {rule.id}>"
        register_source(filename, rule.action.source)
        exec(compile(rule.action.source, filename, "exec"), self.kernel.namespace)  # noqa: S102 - the agent's code
        function = self.kernel.namespace.get(rule.action.function)
        if not callable(function):
            raise ValueError(f"the source of rule {rule.name} does not define {rule.action.function}()")
        self._functions[rule.id] = (rule.action.source, function)
        return function
