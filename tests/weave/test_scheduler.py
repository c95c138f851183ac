"""Rule matching: beat cycles under jitter and skips, priorities, triggers, deadlines, one-shots."""

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.weave.rules import Rule
from appliance.weave.scheduler import Scheduler


def beat_rule(every, priority="normal", name=None, offset=0.0, one_shot=False):
    return Rule.make("s", name or f"b{every}-{priority}", {"type": "beat", "every": every, "offset": offset},
                     {"type": "notify", "message": "x"}, priority, one_shot)


def rule(trigger, priority="normal", name="r", one_shot=False):
    return Rule.make("s", name, trigger, {"type": "notify", "message": "x"}, priority, one_shot)


def fires(scheduler, beats):
    """For each tick, the names of the rules that fired."""
    return [[r.name for r in scheduler.match_beat(b)] for b in beats]


def test_every_bar_fires_on_bar_lines_only():
    s = Scheduler()
    s.add(beat_rule(4, name="bar"))
    out = fires(s, [0, 1, 2, 3, 4, 5, 6, 7, 8])
    assert [i for i, names in enumerate(out) if names] == [0, 4, 8]


def test_jitter_neither_doubles_nor_misses():
    s = Scheduler()
    s.add(beat_rule(4, name="bar"))
    ticks = [0.0, 1.01, 1.99, 3.0, 3.995, 4.004, 3.999, 5.0, 6.0, 7.0, 7.99, 8.01, 9.0]
    out = fires(s, ticks)
    fired_at = [ticks[i] for i, names in enumerate(out) if names]
    assert fired_at == [0.0, 3.995, 7.99]


def test_skipped_tick_still_fires_the_bar_once():
    s = Scheduler()
    s.add(beat_rule(4, name="bar"))
    out = fires(s, [0, 1, 2, 3.5, 4.75, 5, 11.5, 12.25])
    assert [bool(n) for n in out] == [True, False, False, False, True, False, True, True]


def test_first_tick_mid_bar_waits_for_the_next_bar():
    s = Scheduler()
    s.add(beat_rule(4, name="bar"))
    assert fires(s, [1234.5, 1235, 1236]) == [[], [], ["bar"]]


def test_rule_added_mid_play_starts_at_next_boundary():
    s = Scheduler()
    s.add(beat_rule(1, name="each"))
    fires(s, [0, 1, 2, 5.5])
    s.add(beat_rule(8, name="late"))
    assert fires(s, [6, 7, 8]) == [["each"], ["each"], ["each", "late"]]


def test_priority_order_across_cycles():
    s = Scheduler()
    s.add(beat_rule(2, "low", "two-low"))
    s.add(beat_rule(1, "idle", "one-idle"))
    s.add(beat_rule(4, "critical", "four-critical"))
    s.add(beat_rule(1, "high", "one-high"))
    assert fires(s, [0]) == [["four-critical", "one-high", "two-low", "one-idle"]]


def test_offset_shifts_the_cycle():
    s = Scheduler()
    s.add(beat_rule(4, name="off", offset=2))
    out = fires(s, range(0, 11))
    assert [i for i, names in enumerate(out) if names] == [2, 6, 10]


def test_seek_back_fires_the_bars_again():
    s = Scheduler()
    s.add(beat_rule(4, name="bar"))
    fires(s, [0, 4, 8])
    assert fires(s, [0.0, 4.0]) == [["bar"], ["bar"]]


def test_transport_stop_restarts_cycles():
    s = Scheduler()
    s.add(beat_rule(4, name="bar"))
    s.match_transport("playing", 0)
    fires(s, [0, 1, 2, 3, 4, 5])
    s.match_transport("stopped", 0)
    s.match_transport("playing", 0)
    assert fires(s, [0]) == [["bar"]]


def test_marker_artifact_job_transport_triggers():
    s = Scheduler()
    s.add(rule({"type": "marker", "name": "drop"}, name="m"))
    s.add(rule({"type": "artifact", "tag": "drums"}, name="a1"))
    s.add(rule({"type": "artifact", "tag": "loud"}, "high", name="a2"))
    s.add(rule({"type": "job_complete", "space": "pattern"}, name="j1"))
    s.add(rule({"type": "job_complete"}, name="j2"))
    s.add(rule({"type": "transport", "state": "playing"}, name="t1"))
    s.add(rule({"type": "transport"}, name="t2"))
    assert [r.name for r in s.match_marker("drop")] == ["m"]
    assert s.match_marker("other") == []
    assert [r.name for r in s.match_artifact(["drums", "loud", "drums"])] == ["a2", "a1"]
    assert [r.name for r in s.match_job("j", "pattern")] == ["j1", "j2"]
    assert [r.name for r in s.match_job("j", "capture")] == ["j2"]
    assert [r.name for r in s.match_transport("playing", 0)] == ["t1", "t2"]
    assert s.match_transport("playing", 0) == []  # no change, no firing
    assert [r.name for r in s.match_transport("paused", 0)] == ["t2"]


def test_deadline_start_by_uses_estimate_and_margin():
    estimates = {"slow": 10.0}
    s = Scheduler(estimate_seconds=estimates.get)
    s.set_tempo(60)  # one beat per second
    for priority, name in (("critical", "c"), ("high", "h"), ("normal", "n"), ("low", "l")):
        s.add(rule({"type": "deadline", "beat": 100, "space": "slow"}, priority, name=name, one_shot=True))
    assert {r.name: s.start_by(r.id) for r in s.rules()} == {"c": 85.0, "h": 88.0, "n": 90.0, "l": 90.0}
    assert [r.name for r in s.match_beat(84)] == []
    assert [r.name for r in s.match_beat(85)] == ["c"]
    assert [r.name for r in s.match_beat(89)] == ["h"]
    assert [r.name for r in s.match_beat(90.5)] == ["n", "l"]
    assert s.match_beat(95) == []


def test_deadline_moves_with_tempo_and_unknown_space_uses_default():
    s = Scheduler()
    s.set_tempo(120)
    r = rule({"type": "deadline", "beat": 64}, name="d")
    s.add(r)
    assert s.start_by(r.id) == 64 - 10 * 2  # default estimate 10 s at 2 beats per second
    s.set_tempo(60)
    assert s.start_by(r.id) == 54
    assert [x.name for x in s.match_beat(54)] == ["d"]


def test_one_shot_is_removed_and_counts_kept():
    s = Scheduler()
    once, always = beat_rule(1, name="once", one_shot=True), beat_rule(1, name="always")
    s.add(once)
    s.add(always)
    counts, spent = s.fired(s.match_beat(0), now=5.0)
    assert spent == [once.id]
    assert sorted(c[1] for c in counts) == [1, 1]
    assert [r.name for r in s.match_beat(1)] == ["always"]
    s.fired([always])
    assert always.fired_count == 2


def test_disabled_rule_stops_matching_others_continue():
    s = Scheduler()
    bad, good = beat_rule(1, name="bad"), beat_rule(1, name="good")
    s.add(bad)
    s.add(good)
    s.disable(bad.id, "boom")
    assert fires(s, [0, 1]) == [["good"], ["good"]]
    assert s.get(bad.id).last_error == "boom"


def test_replacing_a_rule_does_not_double_it():
    s = Scheduler()
    r = beat_rule(1, name="x")
    s.add(r)
    s.add(r)
    assert fires(s, [0]) == [["x"]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.05, 3.0), st.floats(-0.015, 0.015)), min_size=1, max_size=80),
       st.sampled_from([1, 2, 4, 8]))
def test_each_boundary_fires_at_most_once_and_none_is_missed(steps, every):
    s = Scheduler()
    s.add(beat_rule(every, name="r"))
    position, fired, last_boundary = 0.0, [], -1
    for step, jitter in [(0.0, 0.0), *steps]:  # the clock starts at beat 0
        position += step
        tick = max(0.0, position + jitter)
        if s.match_beat(tick):
            fired.append(tick)
        reached = int((tick + 0.02) // every)
        # Invariant: by now the latest boundary reached has fired (no missed bar).
        if reached > last_boundary:
            assert fired and int((fired[-1] + 0.02) // every) == reached
            last_boundary = reached
    boundaries = [int((t + 0.02) // every) for t in fired]
    assert len(boundaries) == len(set(boundaries))  # never twice for one boundary
