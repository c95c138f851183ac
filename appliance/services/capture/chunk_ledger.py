"""The chunk files hootenanny has handed to chaosgarden and not yet seen through (`chunks_in_flight`).

A chunk is written down when its staging file is handed out, gets its digest
once it is sealed into the manifest, and is forgotten once chaosgarden has
acknowledged the seal. Kept in the catalog, not in memory, so that a restarted
hootenanny knows which staging files are chaosgarden's (the orphan scan spares
them) and which chunks it sealed but never heard acknowledged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from appliance.cas import ContentStore
from appliance.services.store.catalog import now_ns


@dataclass(frozen=True)
class InFlight:
    """One chunk in the ledger."""

    path: str
    # Set once the chunk is sealed into the manifest; a chunk with a digest is not sealed again.
    digest: str | None


class ChunkLedger:
    def __init__(self, db: sqlite3.Connection, store: ContentStore) -> None:
        self.db = db
        self.store = store

    def hand_out(self, uri: str) -> str:
        """A new staging file for stream `uri`, written down before chaosgarden hears of it; returns its path."""
        staging = self.store.create_staging()
        self.db.execute("INSERT INTO chunks_in_flight (path, stream_uri, handed_ns) VALUES (?, ?, ?)",
                        (str(staging.path), uri, now_ns()))
        return str(staging.path)

    def find(self, path: str) -> InFlight | None:
        """The chunk at `path`, or None when it was never handed out (or is done with)."""
        row = self.db.execute("SELECT digest FROM chunks_in_flight WHERE path=?", (path,)).fetchone()
        return None if row is None else InFlight(path, row["digest"])

    def adopt(self, uri: str, path: str) -> InFlight | None:
        """Take in a chunk chaosgarden made itself in our staging area (it ran out of spares at a stop).

        None when `path` is no such file: then it is nothing of ours.
        """
        candidate = Path(path)
        if not (candidate.is_relative_to(self.store.staging_dir) and candidate.is_file()):
            return None
        self.db.execute("INSERT INTO chunks_in_flight (path, stream_uri, handed_ns) VALUES (?, ?, ?)",
                        (path, uri, now_ns()))
        return InFlight(path, None)

    def sealed(self, path: str, digest: str) -> None:
        """The chunk at `path` is in the manifest as `digest`; only chaosgarden's acknowledgement is missing."""
        self.db.execute("UPDATE chunks_in_flight SET digest=? WHERE path=?", (digest, path))

    def forget(self, path: str) -> None:
        """The chunk at `path` is done with (acknowledged, or never taken by chaosgarden)."""
        self.db.execute("DELETE FROM chunks_in_flight WHERE path=?", (path,))

    def release_unsealed(self, uri: str) -> None:
        """Drop the staging files of stream `uri` that chaosgarden no longer holds (unused spares after a stop)."""
        rows = self.db.execute("SELECT path FROM chunks_in_flight WHERE stream_uri=? AND digest IS NULL",
                               (uri,)).fetchall()
        for row in rows:
            self.store.release(Path(row["path"]))
            self.forget(row["path"])

    def release_all(self, uri: str) -> None:
        """chaosgarden lost stream `uri` (it restarted): drop every staging name of it and forget them all, since
        nobody is left to acknowledge them. A sealed one's bytes are in content/ already; the salvaged live
        chunk keeps its staging name through its seal, and without this it stayed until the next start."""
        for row in self.db.execute("SELECT path FROM chunks_in_flight WHERE stream_uri=?", (uri,)).fetchall():
            self.store.release(Path(row["path"]))
        self.db.execute("DELETE FROM chunks_in_flight WHERE stream_uri=?", (uri,))

    def staging_ids(self) -> set[str]:
        """The staging ids of every chunk in the ledger."""
        return {Path(r["path"]).name for r in self.db.execute("SELECT path FROM chunks_in_flight")}
