"""The activity index on disk: sqlite beside the catalog, kept after the audio it describes is released.

Block figures are stored in pages of 1024 blocks (about 100 s) per stream,
one array per figure as a blob in BlockFigures' integer units. A day of 8 channels is
about 850 rows and 50 MB, and a query over it reads a few hundred rows
instead of hundreds of thousands. MIDI notes are rows of their own, found by
pitch and by time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.services.activity.block_figures import BlockFigures

PAGE_BLOCKS = 1024
COLUMNS = ("rms", "peak", "centroid", "onsets", "clipped")  # in BlockFigures.arrays() order
_STORED = (np.int16, np.int16, np.uint16, np.uint8, np.uint16)  # as BlockFigures holds them

SCHEMA = """
CREATE TABLE IF NOT EXISTS activity_streams (
    stream_uri TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    block_samples INTEGER NOT NULL,
    first_sample INTEGER NOT NULL,     -- the oldest sample indexed
    indexed_to INTEGER NOT NULL        -- every sample below this that was recorded is in the index
);
CREATE TABLE IF NOT EXISTS activity_pages (
    stream_uri TEXT NOT NULL,
    page INTEGER NOT NULL,
    rms BLOB NOT NULL, peak BLOB NOT NULL, centroid BLOB NOT NULL, onsets BLOB NOT NULL, clipped BLOB NOT NULL,
    PRIMARY KEY (stream_uri, page)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity_notes (
    stream_uri TEXT NOT NULL,
    sample INTEGER NOT NULL,
    end_sample INTEGER,                -- NULL while no note off has been indexed
    pitch INTEGER NOT NULL,
    velocity INTEGER NOT NULL,
    channel INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_notes_by_time ON activity_notes (stream_uri, sample);
"""


@dataclass(frozen=True)
class IndexedStream:
    """What the index holds of one stream."""

    uri: str
    kind: str
    sample_rate: int
    channels: int
    block_samples: int
    first_sample: int
    indexed_to: int


@dataclass(frozen=True)
class IndexedNote:
    sample: int
    end_sample: int | None
    pitch: int
    velocity: int
    channel: int


class ActivityStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # One short connection per call: the indexer writes from a worker thread while queries read from others,
        # and WAL lets them run side by side.
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def stream(self, uri: str) -> IndexedStream | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM activity_streams WHERE stream_uri=?", (uri,)).fetchone()
        return None if row is None else IndexedStream(*row)

    def begin(self, stream: IndexedStream) -> None:
        """Start indexing a stream (or start again, for a redefined one: its old pages stay as they are)."""
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO activity_streams VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (stream.uri, stream.kind, stream.sample_rate, stream.channels, stream.block_samples,
                        stream.first_sample, stream.indexed_to))

    def skip_to(self, uri: str, sample: int) -> None:
        """Nothing recorded below `sample` is left to index (released, or a hole)."""
        with self._db() as db:
            db.execute("UPDATE activity_streams SET indexed_to=MAX(indexed_to, ?) WHERE stream_uri=?", (sample, uri))

    def add_blocks(self, uri: str, first_block: int, figures: BlockFigures, indexed_to: int) -> None:
        """Store figures for blocks from `first_block` on, and how far the stream is indexed, in one transaction."""
        with self._db() as db:
            done = 0
            while done < figures.blocks:
                block = first_block + done
                page, offset = divmod(block, PAGE_BLOCKS)
                take = min(PAGE_BLOCKS - offset, figures.blocks - done)
                stored = self._page(db, uri, page, figures.channels)
                for target, source in zip(stored.arrays(), figures.arrays()):
                    target[offset:offset + take] = source[done:done + take]
                db.execute("INSERT OR REPLACE INTO activity_pages VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (uri, page, *(a.tobytes() for a in stored.arrays())))
                done += take
            db.execute("UPDATE activity_streams SET indexed_to=? WHERE stream_uri=?", (indexed_to, uri))

    def blocks(self, uri: str, first_block: int, end_block: int, channels: int,
               columns: tuple[str, ...] = COLUMNS) -> BlockFigures:
        """Figures of blocks [first_block, end_block); missing (and zero counts) where nothing is indexed.

        Only the figures named in `columns` are read; the others read as missing.
        """
        blocks = end_block - first_block
        unread = BlockFigures.empty(1, channels).arrays()
        arrays = [np.broadcast_to(a, (blocks, channels)) for a in unread]  # no memory for figures not asked
        wanted = [COLUMNS.index(c) for c in columns]
        for column in wanted:
            arrays[column] = np.full((blocks, channels), unread[column][0, 0], dtype=_STORED[column])
        with self._db() as db:
            rows = db.execute(f"SELECT page, {', '.join(columns)} FROM activity_pages WHERE "
                              "stream_uri=? AND page BETWEEN ? AND ? ORDER BY page",
                              (uri, first_block // PAGE_BLOCKS, (end_block - 1) // PAGE_BLOCKS)).fetchall()
        for page, *blobs in rows:
            start = page * PAGE_BLOCKS
            lo, hi = max(start, first_block), min(start + PAGE_BLOCKS, end_block)
            for column, blob in zip(wanted, blobs):
                values = np.frombuffer(blob, dtype=_STORED[column]).reshape(PAGE_BLOCKS, -1)
                if values.shape[1] != channels:
                    continue  # a page from an earlier definition of the stream with another channel count
                arrays[column][lo - first_block:hi - first_block] = values[lo - start:hi - start]
        return BlockFigures(*arrays)

    def _page(self, db: sqlite3.Connection, uri: str, page: int, channels: int) -> BlockFigures:
        row = db.execute("SELECT rms, peak, centroid, onsets, clipped FROM activity_pages WHERE stream_uri=? "
                         "AND page=?", (uri, page)).fetchone()
        if row is not None:
            arrays = [np.frombuffer(blob, dtype=kind).reshape(PAGE_BLOCKS, -1).copy()
                      for blob, kind in zip(row, _STORED)]
            if arrays[0].shape[1] == channels:
                return BlockFigures(*arrays)
        return BlockFigures.empty(PAGE_BLOCKS, channels)

    # -- MIDI ----------------------------------------------------------------
    def add_note_events(self, uri: str, events: list[tuple[int, int, int, int]], indexed_to: int) -> None:
        """Note events (sample, pitch, velocity, channel) in order; velocity 0 ends the pitch's open note."""
        with self._db() as db:
            for sample, pitch, velocity, channel in events:
                db.execute("UPDATE activity_notes SET end_sample=? WHERE rowid=(SELECT rowid FROM activity_notes "
                           "WHERE stream_uri=? AND pitch=? AND channel=? AND end_sample IS NULL ORDER BY sample "
                           "DESC LIMIT 1)", (sample, uri, pitch, channel))
                if velocity:
                    db.execute("INSERT INTO activity_notes VALUES (?, ?, NULL, ?, ?, ?)",
                               (uri, sample, pitch, velocity, channel))
            db.execute("UPDATE activity_streams SET indexed_to=? WHERE stream_uri=?", (indexed_to, uri))

    def note_buckets(self, uri: str, first: int, end: int, bucket: int) -> list[tuple[int, int, int, int]]:
        """(bucket index, notes, lowest pitch, highest pitch) of the buckets of `bucket` samples that have notes."""
        with self._db() as db:
            return db.execute("SELECT (sample - ?) / ?, COUNT(*), MIN(pitch), MAX(pitch) FROM activity_notes "
                              "WHERE stream_uri=? AND sample >= ? AND sample < ? GROUP BY 1",
                              (first, bucket, uri, first, end)).fetchall()

    def notes(self, uri: str, first: int, end: int, pitches: set[int] | None = None,
              newest: int | None = None) -> list[IndexedNote]:
        """Notes starting in samples [first, end) in order (only the newest `newest`, and the asked pitches)."""
        where, args = _note_filter(uri, first, end, pitches)
        sql = f"SELECT sample, end_sample, pitch, velocity, channel FROM activity_notes WHERE {where} " \
              "ORDER BY sample DESC" + (" LIMIT ?" if newest is not None else "")
        with self._db() as db:
            rows = db.execute(sql, args + ([newest] if newest is not None else [])).fetchall()
        return [IndexedNote(*row) for row in reversed(rows)]

    def count_notes(self, uri: str, first: int, end: int, pitches: set[int] | None = None) -> int:
        where, args = _note_filter(uri, first, end, pitches)
        with self._db() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM activity_notes WHERE {where}", args).fetchone()[0])


def _note_filter(uri: str, first: int, end: int, pitches: set[int] | None) -> tuple[str, list[object]]:
    where, args = "stream_uri=? AND sample >= ? AND sample < ?", [uri, first, end]
    if pitches is not None:
        where += f" AND pitch IN ({','.join('?' * len(pitches))})"
        args += sorted(pitches)
    return where, args
