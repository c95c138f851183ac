"""The sqlite store: schema, rules, history, snapshots, generation stats."""

import sqlite3

import pytest

from appliance.weave.rules import Rule, RuleError
from appliance.weave.session_store import MIGRATIONS, HistoryEntry, SessionStore


@pytest.fixture
def store(tmp_path):
    s = SessionStore(tmp_path / "vibeweaver" / "weave.db", history_limit=100)
    yield s
    s.close()


def test_schema_wal_and_foreign_keys(store, tmp_path):
    assert store.schema_version == len(MIGRATIONS)
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "rules", "markers", "history", "kernel_snapshots", "generation_stats"} <= tables
    again = SessionStore(store.path)  # reopening does not migrate twice
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_rules_round_trip_and_upsert_keeps_identity(store):
    session = store.create_session("jam", "warm")
    rule = Rule.make(session.id, "python:pulse:beat:4:0", {"type": "beat", "every": 4},
                     {"type": "python", "function": "pulse", "source": "def pulse():\n    pass\n"}, "high")
    saved = store.save_rule(rule)
    store.rules_fired([(saved.id, 3, 12.5)], [])
    replacement = Rule.make(session.id, "python:pulse:beat:4:0", {"type": "beat", "every": 4},
                            {"type": "python", "function": "pulse", "source": "def pulse():\n    return 2\n"})
    store.save_rule(replacement)
    (loaded,) = store.rules(session.id)
    assert loaded.id == saved.id and loaded.fired_count == 3 and loaded.last_fired_at == 12.5
    assert loaded.action.source.endswith("return 2\n")
    store.disable_rule(loaded.id, "boom")
    assert store.rules(session.id, enabled_only=True) == []
    assert store.rule(loaded.id).last_error == "boom"


def test_one_shot_rules_are_deleted_when_spent(store):
    session = store.create_session("s")
    rule = store.save_rule(Rule.make(session.id, "once", {"type": "marker", "name": "m"},
                                     {"type": "play"}, one_shot=True))
    store.rules_fired([(rule.id, 1, 1.0)], [rule.id])
    assert store.rules(session.id) == []


def test_deleting_a_session_cascades(store):
    session = store.create_session("gone")
    store.save_rule(Rule.make(session.id, "r", {"type": "marker", "name": "m"}, {"type": "stop"}))
    store.add_marker(session.id, "m", 4.0, {"k": 1})
    store.record(session.id, HistoryEntry("eval", 1, code="1"))
    with store._tx() as db:
        db.execute("DELETE FROM sessions WHERE id = ?", (session.id,))
    assert store.rules(session.id) == [] and store.markers(session.id) == []
    assert store.history(session.id) == []


def test_clear_session_keeps_the_session(store):
    session = store.create_session("keep", "vibe")
    store.save_rule(Rule.make(session.id, "r", {"type": "marker", "name": "m"}, {"type": "stop"}))
    store.add_marker(session.id, "m", 4.0, {})
    store.clear_session(session.id)
    assert store.rules(session.id) == [] and store.markers(session.id) == []
    assert store.session_by_name("keep").vibe == ""


def test_history_is_trimmed_to_the_limit(store):
    session = store.create_session("h")
    for i in range(150):
        store.record(session.id, HistoryEntry("eval", i, code=str(i)))
    entries = store.history(session.id, limit=1000)
    assert len(entries) == 100
    assert entries[0].execution_count == 50 and entries[-1].execution_count == 149


def test_snapshots_keep_the_latest(store):
    for i in range(10):
        store.save_snapshot(bytes([i]))
    assert store.latest_snapshot() == bytes([9])


def test_generation_stats(store):
    assert store.timing("pattern") is None
    store.record_generation("pattern", 2.0)
    store.record_generation("pattern", 4.0)
    store.record_generation("pattern", 100.0, ok=False)
    timing = store.timing("pattern")
    assert timing.runs == 2 and timing.failures == 1
    assert timing.mean_seconds == 3.0 and timing.max_seconds == 4.0
    assert timing.ewma_seconds == pytest.approx(2.0 + 0.3 * 2.0)


def test_bad_rules_name_the_field():
    with pytest.raises(RuleError, match=r"trigger.every: Input should be greater than 0"):
        Rule.make("s", "r", {"type": "beat", "every": 0}, {"type": "play"})
    with pytest.raises(RuleError, match=r"trigger.type must be one of beat, marker"):
        Rule.make("s", "r", {"type": "sometimes"}, {"type": "play"})
    with pytest.raises(RuleError, match=r"action.beat"):
        Rule.make("s", "r", {"type": "marker", "name": "m"}, {"type": "seek", "beat": -1})
    with pytest.raises(ValueError, match="priority must be one of critical, high, normal, low, idle"):
        Rule.make("s", "r", {"type": "marker", "name": "m"}, {"type": "play"}, "urgent")
