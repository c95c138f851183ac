"""hootenanny's sqlite catalog: streams, chunks in flight, sessions, artifacts, lineage, jobs, devices.

One file (`<data>/hootenanny/catalog.db`), WAL so readers never wait on the
writer, foreign keys on, and numbered migrations applied at open. Everything
a restart must not lose is here or in a manifest the catalog points at.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE streams (
        uri TEXT PRIMARY KEY,
        definition_json TEXT NOT NULL,
        definition_digest TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('defined', 'recording', 'stopped')),
        manifest_path TEXT,
        manifest_digest TEXT,
        retention_hours REAL,
        retention_bytes INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        created_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE chunks_in_flight (
        path TEXT PRIMARY KEY,
        stream_uri TEXT NOT NULL REFERENCES streams(uri) ON DELETE CASCADE,
        digest TEXT,
        handed_ns INTEGER NOT NULL
    );
    CREATE TABLE artifacts (
        id TEXT PRIMARY KEY,
        content_hash TEXT,
        mime TEXT NOT NULL,
        bytes INTEGER NOT NULL DEFAULT 0,
        parent_id TEXT REFERENCES artifacts(id),
        metadata_json TEXT NOT NULL DEFAULT '{}',
        created_ns INTEGER NOT NULL
    );
    CREATE TABLE artifact_tags (
        artifact_id TEXT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (artifact_id, tag)
    );
    CREATE INDEX artifact_tags_by_tag ON artifact_tags(tag);
    CREATE TABLE artifact_chunks (
        artifact_id TEXT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (artifact_id, digest)
    );
    CREATE INDEX artifact_chunks_by_digest ON artifact_chunks(digest);
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('passive', 'request_response')),
        status TEXT NOT NULL CHECK (status IN ('Recording', 'Stopped')),
        streams_json TEXT NOT NULL,
        midi_out TEXT,
        audio_in TEXT,
        artifact_id TEXT REFERENCES artifacts(id),
        created_ns INTEGER NOT NULL,
        stopped_ns INTEGER
    );
    CREATE TABLE segments (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        started_ns INTEGER NOT NULL,
        stopped_ns INTEGER,
        PRIMARY KEY (session_id, number)
    );
    CREATE TABLE segment_edges (
        session_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        stream_uri TEXT NOT NULL,
        start_sample INTEGER NOT NULL,
        end_sample INTEGER,
        PRIMARY KEY (session_id, number, stream_uri),
        FOREIGN KEY (session_id, number) REFERENCES segments(session_id, number) ON DELETE CASCADE
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        space TEXT NOT NULL,
        state TEXT NOT NULL,
        artifact_id TEXT,
        error TEXT NOT NULL DEFAULT '',
        progress REAL NOT NULL DEFAULT -1,
        created_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        alsa_name TEXT NOT NULL,
        dev_path TEXT NOT NULL DEFAULT '',
        connected INTEGER NOT NULL,
        last_seen_ns INTEGER NOT NULL
    );
    """,
    # Names for a stream's channels ({"0": "kick"}): kept beside the definition, not in it, so naming the
    # inputs of an interface neither changes the definition's digest nor needs the stream stopped.
    """
    ALTER TABLE streams ADD COLUMN channel_names_json TEXT NOT NULL DEFAULT '{}';
    """,
)


def open_catalog(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating) the catalog at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    migrate(db)
    return db


def migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            _apply(db, script)
            db.execute(f"PRAGMA user_version={number}")
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise


def _apply(db: sqlite3.Connection, script: str) -> None:
    # executescript() would commit first; statement by statement keeps a migration atomic.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def now_ns() -> int:
    return time.time_ns()
