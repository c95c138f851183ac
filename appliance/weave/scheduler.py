"""Which rules fire on which event, in what order.

Rules are indexed by trigger type (beat cycle, marker name, artifact tag, job,
transport, deadline agenda), each bucket in priority order, so a beat tick
costs one comparison per distinct beat cycle plus the rules that fire, not a
scan of every rule. Beat cycles fire on crossing a boundary, remembered per
cycle: a late, early or skipped tick neither fires a bar twice nor misses it.
Deadline rules start at `deadline - estimated seconds x margin`, converted to
beats at the current tempo. The scheduler is pure bookkeeping: the caller
persists counts and runs actions.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from appliance.weave.rules import Priority, Rule

# Ticks this close before a boundary count as on it (jitter; about 10 ms at 120 bpm).
TICK_TOLERANCE_BEATS = 0.02
# A tick further back than this is a jump (loop, seek), not jitter: cycles restart from there.
REPOSITION_BEATS = 1.0
DEFAULT_TEMPO_BPM = 120.0
DEFAULT_ESTIMATE_SECONDS = 10.0

CycleKey = tuple[float, float]  # (every, offset)


@dataclass(frozen=True, slots=True)
class Event:
    """What made rules fire: kind (beat, marker, artifact, job_complete, transport, deadline) and details."""

    kind: str
    beat: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Firing:
    rule: Rule
    event: Event


def _by_priority() -> list[list[Rule]]:
    return [[] for _ in Priority]


class Scheduler:
    """The active session's enabled rules, indexed for matching. Thread-safe."""

    def __init__(self, estimate_seconds: Callable[[str], float | None] = lambda space: None) -> None:
        self.estimate_seconds = estimate_seconds
        self.tempo_bpm = DEFAULT_TEMPO_BPM
        self._lock = threading.RLock()
        self._rules: dict[str, Rule] = {}
        self._cycles: dict[CycleKey, list[list[Rule]]] = {}
        self._marks: dict[CycleKey, int] = {}
        self._markers: dict[str, list[list[Rule]]] = {}
        self._tags: dict[str, list[list[Rule]]] = {}
        self._jobs = _by_priority()
        self._transport = _by_priority()
        self._agenda: list[tuple[float, int, float, str]] = []
        self._agenda_entry: dict[str, tuple[float, int, float, str]] = {}  # the live entry of each deadline rule
        self._position: float | None = None
        self._transport_state = ""

    # -- the rule set ------------------------------------------------------------
    def load(self, rules: Iterable[Rule]) -> None:
        """Replace every rule (a session switch or a restart)."""
        with self._lock:
            self._rules.clear()
            self._cycles.clear()
            self._marks.clear()
            self._markers.clear()
            self._tags.clear()
            self._jobs, self._transport, self._agenda = _by_priority(), _by_priority(), []
            self._agenda_entry.clear()
            for rule in rules:
                self.add(rule)

    def add(self, rule: Rule) -> None:
        """Index `rule` (replacing one with the same id); disabled rules are kept but never match."""
        with self._lock:
            if rule.id in self._rules:
                self.remove(rule.id)
            self._rules[rule.id] = rule
            if rule.enabled:
                self._index(rule)

    def remove(self, rule_id: str) -> Rule | None:
        with self._lock:
            rule = self._rules.pop(rule_id, None)
            if rule is not None:
                self._unindex(rule)
            return rule

    def disable(self, rule_id: str, error: str) -> Rule | None:
        """Stop a rule from matching (its action failed); the others keep firing."""
        with self._lock:
            rule = self._rules.get(rule_id)
            if rule is not None and rule.enabled:
                self._unindex(rule)
                rule.enabled = False
                rule.last_error = error
            return rule

    def rules(self) -> list[Rule]:
        with self._lock:
            return sorted(self._rules.values(), key=lambda r: (r.priority, r.created_at))

    def get(self, rule_id: str) -> Rule | None:
        return self._rules.get(rule_id)

    def _buckets(self, rule: Rule) -> list[list[Rule]] | None:
        trigger = rule.trigger
        if trigger.type == "beat":
            key = (trigger.every, trigger.offset)
            if key not in self._cycles:
                self._cycles[key] = _by_priority()
                if self._position is not None:
                    self._marks[key] = _last_boundary_before(self._position, key)
            return self._cycles[key]
        if trigger.type == "marker":
            return self._markers.setdefault(trigger.name, _by_priority())
        if trigger.type == "artifact":
            return self._tags.setdefault(trigger.tag, _by_priority())
        if trigger.type == "job_complete":
            return self._jobs
        if trigger.type == "transport":
            return self._transport
        return None

    def _index(self, rule: Rule) -> None:
        buckets = self._buckets(rule)
        if buckets is not None:
            buckets[rule.priority].append(rule)
        else:
            entry = (self._start_by(rule), int(rule.priority), rule.created_at, rule.id)
            self._agenda_entry[rule.id] = entry
            heapq.heappush(self._agenda, entry)

    def _unindex(self, rule: Rule) -> None:
        buckets = self._buckets(rule)
        if buckets is None:
            # The heap entry stays; it is skipped when it comes due.
            self._agenda_entry.pop(rule.id, None)
            return
        bucket = buckets[rule.priority]
        bucket[:] = [r for r in bucket if r.id != rule.id]
        if rule.trigger.type == "beat" and not any(buckets):
            key = (rule.trigger.every, rule.trigger.offset)
            del self._cycles[key]
            self._marks.pop(key, None)

    # -- deadlines ---------------------------------------------------------------
    def _start_by(self, rule: Rule) -> float:
        """The beat at which deadline work must start: deadline - estimate x margin, in beats."""
        estimate = self.estimate_seconds(rule.trigger.space) if rule.trigger.space else None
        seconds = (DEFAULT_ESTIMATE_SECONDS if estimate is None else estimate) * rule.priority.deadline_margin
        return rule.trigger.beat - seconds * self.tempo_bpm / 60.0

    def start_by(self, rule_id: str) -> float | None:
        with self._lock:
            rule = self._rules.get(rule_id)
            return self._start_by(rule) if rule is not None and rule.trigger.type == "deadline" else None

    def set_tempo(self, bpm: float) -> None:
        """A new tempo moves every deadline's start in beats."""
        with self._lock:
            if bpm <= 0 or bpm == self.tempo_bpm:
                return
            self.tempo_bpm = bpm
            self._agenda_entry = {rid: (self._start_by(self._rules[rid]), p, c, rid)
                                  for rid, (_, p, c, _) in self._agenda_entry.items()}
            self._agenda = list(self._agenda_entry.values())
            heapq.heapify(self._agenda)

    # -- matching ----------------------------------------------------------------
    def match_beat(self, beat: float) -> list[Rule]:
        """Beat-cycle rules whose boundary this tick crossed, then deadline rules now due; priority order."""
        with self._lock:
            if self._position is None or beat < self._position - REPOSITION_BEATS:
                self._reposition(beat)
            self._position = beat if self._position is None else max(self._position, beat)
            crossed = []
            for key, buckets in self._cycles.items():
                every, offset = key
                boundary = math.floor((beat - offset + TICK_TOLERANCE_BEATS) / every)
                if boundary > self._marks[key]:
                    self._marks[key] = boundary
                    crossed.append(buckets)
            matched = [rule for priority in Priority for buckets in crossed for rule in buckets[priority]]
            return matched + self._due_deadlines(beat)

    def _due_deadlines(self, beat: float) -> list[Rule]:
        due = []
        while self._agenda and self._agenda[0][0] <= beat + TICK_TOLERANCE_BEATS:
            entry = heapq.heappop(self._agenda)
            if self._agenda_entry.get(entry[3]) == entry:
                del self._agenda_entry[entry[3]]
                due.append(self._rules[entry[3]])
        return sorted(due, key=lambda r: r.priority)

    def _reposition(self, beat: float) -> None:
        self._position = beat
        for key in self._cycles:
            self._marks[key] = _last_boundary_before(beat, key)

    def match_marker(self, name: str) -> list[Rule]:
        with self._lock:
            return _flatten(self._markers.get(name))

    def match_artifact(self, tags: Iterable[str]) -> list[Rule]:
        with self._lock:
            seen: dict[str, Rule] = {}
            for tag in tags:
                for rule in _flatten(self._tags.get(tag)):
                    seen.setdefault(rule.id, rule)
            return sorted(seen.values(), key=lambda r: r.priority)

    def match_job(self, job_id: str, space: str) -> list[Rule]:
        with self._lock:
            return [r for r in _flatten(self._jobs)
                    if r.trigger.job_id in ("", job_id) and r.trigger.space in ("", space)]

    def match_transport(self, state: str, beat: float) -> list[Rule]:
        """Transport rules for a change of state; a stop or seek also restarts the beat cycles from `beat`."""
        with self._lock:
            changed = state != self._transport_state
            jumped = self._position is not None and abs(beat - self._position) > REPOSITION_BEATS
            if changed or jumped or state != "playing":
                self._reposition(beat)
            self._transport_state = state
            if not changed:
                return []
            return [r for r in _flatten(self._transport) if r.trigger.state in ("any", state)]

    # -- firing ------------------------------------------------------------------
    def fired(self, rules: list[Rule], now: float | None = None) -> tuple[list[tuple[str, int, float]], list[str]]:
        """Count the firing of `rules` and drop the one-shot ones; returns what to persist."""
        now = time.time() if now is None else now
        counts, spent = [], []
        with self._lock:
            for rule in rules:
                rule.fired_count += 1
                rule.last_fired_at = now
                counts.append((rule.id, rule.fired_count, now))
                if rule.one_shot:
                    self.remove(rule.id)
                    spent.append(rule.id)
        return counts, spent


def _flatten(buckets: list[list[Rule]] | None) -> list[Rule]:
    return [rule for bucket in buckets for rule in bucket] if buckets else []


def _last_boundary_before(beat: float, key: CycleKey) -> int:
    """The index of the last boundary strictly before `beat` (one at `beat` itself is still to fire)."""
    every, offset = key
    return math.floor((beat - offset + TICK_TOLERANCE_BEATS) / every) - 1 if _on_boundary(beat, key) else \
        math.floor((beat - offset) / every)


def _on_boundary(beat: float, key: CycleKey) -> bool:
    every, offset = key
    phase = (beat - offset + TICK_TOLERANCE_BEATS) % every
    return phase <= 2 * TICK_TOLERANCE_BEATS
