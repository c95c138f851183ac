"""Rule matching per beat tick with 10 000 rules, against a naive scan of every rule in the same run.

The rules mix beat cycles (every 1-64 beats, every offset), markers and
artifact tags; ticks advance a quarter beat at a time with jitter. The issue's
target is a p99 under 1 ms per tick for the indexed scheduler.
"""

from __future__ import annotations

import math
import random
import statistics
import time

from appliance.weave.rules import Priority, Rule
from appliance.weave.scheduler import TICK_TOLERANCE_BEATS, Scheduler
from bench.report import figure

RULES = 10_000
TICKS = 2_000
TARGET_P99_MS = 1.0
EVERY = (1, 2, 4, 8, 16, 32, 64)


def make_rules(rng: random.Random) -> list[Rule]:
    rules = []
    for i in range(RULES):
        priority = rng.choice(list(Priority)).name.lower()
        kind = rng.random()
        if kind < 0.8:
            every = rng.choice(EVERY)
            trigger = {"type": "beat", "every": every, "offset": float(rng.randrange(every))}
        elif kind < 0.9:
            trigger = {"type": "marker", "name": f"m{rng.randrange(50)}"}
        else:
            trigger = {"type": "artifact", "tag": f"t{rng.randrange(50)}"}
        rules.append(Rule.make("bench", f"r{i}", trigger, {"type": "notify", "message": "x"}, priority))
    return rules


class NaiveScan:
    """The peer: look at every rule on every tick, then sort what fired by priority."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.marks = {r.id: -1 for r in rules}

    def match_beat(self, beat: float) -> list[Rule]:
        fired = []
        for rule in self.rules:
            if rule.trigger.type != "beat":
                continue
            boundary = math.floor((beat - rule.trigger.offset + TICK_TOLERANCE_BEATS) / rule.trigger.every)
            if boundary > self.marks[rule.id]:
                self.marks[rule.id] = boundary
                fired.append(rule)
        return sorted(fired, key=lambda r: r.priority)


def ticks(rng: random.Random) -> list[float]:
    return [max(0.0, i * 0.25 + rng.uniform(-0.01, 0.01)) for i in range(TICKS)]


def timed(match, beats: list[float]) -> tuple[list[float], int]:
    samples, fired = [], 0
    for beat in beats:
        start = time.perf_counter()
        fired += len(match(beat))
        samples.append(time.perf_counter() - start)
    return samples, fired


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if q < 100 else max(samples)


def main() -> None:
    rng = random.Random(7)
    rules = make_rules(rng)
    beats = ticks(rng)
    scheduler = Scheduler()
    scheduler.load(rules)
    naive = NaiveScan(rules)
    ours, ours_fired = timed(scheduler.match_beat, beats)
    peer, peer_fired = timed(naive.match_beat, beats)
    if ours_fired != peer_fired:
        raise SystemExit(f"weave_rules: the scheduler fired {ours_fired} rules, the naive scan {peer_fired}")
    for q in (50, 99):
        figure(f"weave rule matching p{q} ({RULES} rules/tick, {ours_fired / TICKS:.0f} fire/tick)",
               percentile(ours, q) * 1e3, percentile(peer, q) * 1e3, "naive scan", "ms", higher_is_better=False)
    p99 = percentile(ours, 99) * 1e3
    verdict = "ok" if p99 < TARGET_P99_MS else "ABOVE target"
    print(f"weave rule matching p99 {p99:.3f} ms vs target {TARGET_P99_MS:g} ms: {verdict}", flush=True)


if __name__ == "__main__":
    main()
