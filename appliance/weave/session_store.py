"""vibeweaver's sqlite database: sessions, rules, markers, history, kernel snapshots, generation stats.

One connection shared by the I/O thread and the kernel thread behind a lock;
WAL so readers (e.g. `studio` on the same box) never block the kernel;
foreign keys so deleting a session takes its rules, markers and history.
The schema moves forward by numbered migrations recorded in `user_version`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.weave.rules import Priority, Rule, parse_action, parse_trigger

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        vibe TEXT NOT NULL DEFAULT '',
        tempo_bpm REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE rules (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        trigger_type TEXT NOT NULL,
        trigger_json TEXT NOT NULL,
        action_type TEXT NOT NULL,
        action_json TEXT NOT NULL,
        priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 4),
        enabled INTEGER NOT NULL DEFAULT 1,
        one_shot INTEGER NOT NULL DEFAULT 0,
        fired_count INTEGER NOT NULL DEFAULT 0,
        last_fired_at REAL,
        last_error TEXT,
        created_at REAL NOT NULL,
        UNIQUE (session_id, name)
    );
    CREATE INDEX rules_by_session ON rules (session_id, enabled);
    CREATE TABLE markers (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        beat REAL NOT NULL,
        metadata_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX markers_by_session ON markers (session_id, beat);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        execution_count INTEGER,
        rule_id TEXT,
        code TEXT,
        result TEXT,
        stdout TEXT NOT NULL DEFAULT '',
        stderr TEXT NOT NULL DEFAULT '',
        success INTEGER NOT NULL DEFAULT 1,
        error TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX history_by_session ON history (session_id, id);
    CREATE TABLE kernel_snapshots (
        id INTEGER PRIMARY KEY,
        taken_at REAL NOT NULL,
        state BLOB NOT NULL
    );
    CREATE TABLE generation_stats (
        space TEXT PRIMARY KEY,
        runs INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        mean_seconds REAL NOT NULL,
        ewma_seconds REAL NOT NULL,
        max_seconds REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
)

# Weight of the newest run in a space's moving estimate: recent runs count most (models warm up, load varies).
EWMA_WEIGHT = 0.3
SNAPSHOTS_KEPT = 5


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    name: str
    vibe: str
    tempo_bpm: float | None
    created_at: float


@dataclass(frozen=True, slots=True)
class MarkerRow:
    name: str
    beat: float
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    kind: str  # eval, rule, rule_error, notify, job
    execution_count: int | None = None
    rule_id: str | None = None
    code: str | None = None
    result: str | None = None
    stdout: str = ""
    stderr: str = ""
    success: bool = True
    error: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SpaceTiming:
    space: str
    runs: int
    failures: int
    mean_seconds: float
    ewma_seconds: float
    max_seconds: float


class SessionStore:
    """All of vibeweaver's durable state."""

    def __init__(self, path: Path, history_limit: int = 10_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.history_limit = history_limit
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                # executescript commits first; the version bump rides in the same script.
                self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    # -- sessions ------------------------------------------------------------
    def session_by_name(self, name: str) -> Session | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, vibe, tempo_bpm, created_at FROM sessions WHERE name = ?",
                                   (name,)).fetchone()
        return Session(*row) if row else None

    def session(self, session_id: str) -> Session | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, vibe, tempo_bpm, created_at FROM sessions WHERE id = ?",
                                   (session_id,)).fetchone()
        return Session(*row) if row else None

    def create_session(self, name: str, vibe: str = "", tempo_bpm: float | None = None) -> Session:
        now = time.time()
        session = Session(uuid.uuid4().hex[:12], name, vibe, tempo_bpm, now)
        with self._tx() as db:
            db.execute("INSERT INTO sessions (id, name, vibe, tempo_bpm, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (session.id, name, vibe, tempo_bpm, now, now))
        return session

    def update_session(self, session_id: str, *, vibe: str | None = None, tempo_bpm: float | None = None) -> None:
        with self._tx() as db:
            if vibe is not None:
                db.execute("UPDATE sessions SET vibe = ?, updated_at = ? WHERE id = ?", (vibe, time.time(), session_id))
            if tempo_bpm is not None:
                db.execute("UPDATE sessions SET tempo_bpm = ?, updated_at = ? WHERE id = ?",
                           (tempo_bpm, time.time(), session_id))

    def clear_session(self, session_id: str) -> None:
        """Drop a session's rules, markers and history and its vibe; keep the session itself."""
        with self._tx() as db:
            for table in ("rules", "markers", "history"):
                db.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))  # noqa: S608 - fixed names
            db.execute("UPDATE sessions SET vibe = '', updated_at = ? WHERE id = ?", (time.time(), session_id))

    def sessions(self) -> list[Session]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, vibe, tempo_bpm, created_at FROM sessions "
                                    "ORDER BY created_at").fetchall()
        return [Session(*row) for row in rows]

    # -- rules ---------------------------------------------------------------
    def save_rule(self, rule: Rule) -> Rule:
        """Insert `rule`, or replace the session's rule of the same name (keeping its id and counts)."""
        with self._tx() as db:
            row = db.execute("SELECT id, fired_count, last_fired_at, created_at FROM rules "
                             "WHERE session_id = ? AND name = ?", (rule.session_id, rule.name)).fetchone()
            if row is not None:
                rule.id, rule.fired_count, rule.last_fired_at, rule.created_at = row
            db.execute(
                "INSERT OR REPLACE INTO rules (id, session_id, name, trigger_type, trigger_json, action_type, "
                "action_json, priority, enabled, one_shot, fired_count, last_fired_at, last_error, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rule.id, rule.session_id, rule.name, rule.trigger.type, rule.trigger.model_dump_json(),
                 rule.action.type, rule.action.model_dump_json(), int(rule.priority), int(rule.enabled),
                 int(rule.one_shot), rule.fired_count, rule.last_fired_at, rule.last_error, rule.created_at))
        return rule

    def rules(self, session_id: str, enabled_only: bool = False) -> list[Rule]:
        query = ("SELECT id, session_id, name, trigger_json, action_json, priority, enabled, one_shot, "
                 "fired_count, last_fired_at, last_error, created_at FROM rules WHERE session_id = ?")
        if enabled_only:
            query += " AND enabled = 1"
        with self._lock:
            rows = self._db.execute(query + " ORDER BY priority, created_at", (session_id,)).fetchall()
        return [_rule(row) for row in rows]

    def rule(self, rule_id: str) -> Rule | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, session_id, name, trigger_json, action_json, priority, enabled, one_shot, "
                "fired_count, last_fired_at, last_error, created_at FROM rules WHERE id = ?", (rule_id,)).fetchone()
        return _rule(row) if row else None

    def rules_fired(self, fired: list[tuple[str, int, float]], spent: list[str]) -> None:
        """Record (rule id, fired count, time) for rules that fired, and drop the one-shot rules `spent`."""
        with self._tx() as db:
            db.executemany("UPDATE rules SET fired_count = ?, last_fired_at = ? WHERE id = ?",
                           [(count, at, rule_id) for rule_id, count, at in fired])
            db.executemany("DELETE FROM rules WHERE id = ?", [(rule_id,) for rule_id in spent])

    def disable_rule(self, rule_id: str, error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE rules SET enabled = 0, last_error = ? WHERE id = ?", (error, rule_id))

    def delete_rule(self, rule_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM rules WHERE id = ?", (rule_id,)).rowcount > 0

    # -- markers -------------------------------------------------------------
    def add_marker(self, session_id: str, name: str, beat: float, metadata: dict[str, Any]) -> MarkerRow:
        with self._tx() as db:
            db.execute("INSERT INTO markers (session_id, name, beat, metadata_json, created_at) VALUES (?, ?, ?, ?, ?)",
                       (session_id, name, beat, json.dumps(metadata), time.time()))
        return MarkerRow(name, beat, metadata)

    def markers(self, session_id: str) -> list[MarkerRow]:
        with self._lock:
            rows = self._db.execute("SELECT name, beat, metadata_json FROM markers WHERE session_id = ? "
                                    "ORDER BY beat, id", (session_id,)).fetchall()
        return [MarkerRow(name, beat, json.loads(meta)) for name, beat, meta in rows]

    # -- history -------------------------------------------------------------
    def record(self, session_id: str | None, entry: HistoryEntry) -> None:
        """Append to history and trim the oldest entries past the limit."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO history (session_id, kind, execution_count, rule_id, code, result, stdout, stderr, "
                "success, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, entry.kind, entry.execution_count, entry.rule_id, entry.code, entry.result,
                 entry.stdout, entry.stderr, int(entry.success), entry.error, time.time()))
            db.execute("DELETE FROM history WHERE id <= ?", (_row_id(cursor) - self.history_limit,))

    def history(self, session_id: str | None, limit: int = 20) -> list[HistoryEntry]:
        """The newest `limit` entries, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, execution_count, rule_id, code, result, stdout, stderr, success, error, created_at "
                "FROM history WHERE session_id IS ? ORDER BY id DESC LIMIT ?", (session_id, limit)).fetchall()
        return [HistoryEntry(kind, count, rule, code, result, out, err, bool(ok), error, at)
                for kind, count, rule, code, result, out, err, ok, error, at in reversed(rows)]

    # -- kernel snapshots ------------------------------------------------------
    def save_snapshot(self, state: bytes) -> None:
        with self._tx() as db:
            cursor = db.execute("INSERT INTO kernel_snapshots (taken_at, state) VALUES (?, ?)", (time.time(), state))
            db.execute("DELETE FROM kernel_snapshots WHERE id <= ?", (_row_id(cursor) - SNAPSHOTS_KEPT,))

    def latest_snapshot(self) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM kernel_snapshots ORDER BY id DESC LIMIT 1").fetchone()
        return bytes(row[0]) if row else None

    # -- generation stats --------------------------------------------------------
    def record_generation(self, space: str, seconds: float, ok: bool = True) -> SpaceTiming:
        """Fold one generation's duration into the space's timing (failures count, but not their time)."""
        with self._tx() as db:
            row = db.execute("SELECT runs, failures, mean_seconds, ewma_seconds, max_seconds FROM generation_stats "
                             "WHERE space = ?", (space,)).fetchone()
            runs, failures, mean, ewma, peak = row if row else (0, 0, 0.0, seconds, 0.0)
            if ok:
                runs += 1
                mean += (seconds - mean) / runs
                ewma = seconds if runs == 1 else ewma + EWMA_WEIGHT * (seconds - ewma)
                peak = max(peak, seconds)
            else:
                failures += 1
            db.execute("INSERT OR REPLACE INTO generation_stats (space, runs, failures, mean_seconds, ewma_seconds, "
                       "max_seconds, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (space, runs, failures, mean, ewma, peak, time.time()))
        return SpaceTiming(space, runs, failures, mean, ewma, peak)

    def timing(self, space: str) -> SpaceTiming | None:
        with self._lock:
            row = self._db.execute("SELECT space, runs, failures, mean_seconds, ewma_seconds, max_seconds "
                                   "FROM generation_stats WHERE space = ?", (space,)).fetchone()
        return SpaceTiming(*row) if row and row[1] > 0 else None


def _rule(row: tuple[Any, ...]) -> Rule:
    (rule_id, session_id, name, trigger_json, action_json, priority, enabled, one_shot, fired, last_fired,
     last_error, created_at) = row
    return Rule(session_id, name, parse_trigger(json.loads(trigger_json)), parse_action(json.loads(action_json)),
                Priority(priority), bool(enabled), bool(one_shot), fired, last_fired, last_error, rule_id, created_at)


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made (sqlite always sets it after one)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
