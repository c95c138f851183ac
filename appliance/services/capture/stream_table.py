"""Where hootenanny keeps each stream between restarts: its row in the catalog and its manifest file.

The `streams` table holds the definition, the state, the last error and the
path of the staged manifest; the manifest itself is rewritten atomically at
every change (manifest.write_atomically) and, once the stream stops, stored
in CAS with its digest in the row. Every SQL statement about a stream's
recording is here, so the stream service reads as the lifecycle it is.
"""

from __future__ import annotations

import json

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from appliance.cas import ContentStore
from appliance.proto.stream_definition import StreamDefinition
from appliance.services.capture import manifest as manifests
from appliance.services.capture.manifest import Manifest
from appliance.services.capture.recorder import Recorder
from appliance.services.store.catalog import now_ns

log = logging.getLogger("appliance.services.capture.streams")


class StreamTable:
    def __init__(self, db: sqlite3.Connection, store: ContentStore) -> None:
        self.db, self.store = db, store

    def define(self, definition: StreamDefinition) -> str:
        """Store `definition` in CAS and in the stream's row (kept state and manifest); returns its digest."""
        as_json = definition.model_dump_json()
        digest = self.store.put(as_json.encode())
        stamp = now_ns()
        self.db.execute(
            "INSERT INTO streams (uri, definition_json, definition_digest, state, created_ns, updated_ns)"
            " VALUES (?, ?, ?, 'defined', ?, ?) ON CONFLICT(uri) DO UPDATE SET definition_json=excluded.definition_json,"
            " definition_digest=excluded.definition_digest, updated_ns=excluded.updated_ns",
            (definition.uri, as_json, digest, stamp, stamp),
        )
        return digest

    def load(self) -> Iterator[Recorder]:
        """Every stream as the last run left it; one whose manifest cannot be read comes back broken, saying why."""
        for row in self.db.execute("SELECT * FROM streams"):
            definition = StreamDefinition.model_validate_json(row["definition_json"])
            path = Path(row["manifest_path"]) if row["manifest_path"] else None
            manifest = Manifest(stream=definition.uri, definition=definition, definition_digest=row["definition_digest"])
            broken = ""
            if path is not None and path.exists():
                try:
                    manifest = manifests.read(path)
                except manifests.ManifestError as exc:
                    broken = f"{exc}; the file is left as it is for inspection"
                    log.error("%s: %s", definition.uri, broken)
            yield Recorder(definition, manifest, path, recording=row["state"] == "recording" and not broken,
                           last_error=broken or row["last_error"], broken=broken)

    def persist(self, rec: Recorder) -> None:
        """Write `rec`'s manifest to its staging file (made on first use), atomically."""
        if rec.manifest_path is None:
            rec.manifest_path = self.store.create_staging().path
            self.db.execute("UPDATE streams SET manifest_path=? WHERE uri=?",
                            (str(rec.manifest_path), rec.definition.uri))
        manifests.write_atomically(rec.manifest_path, rec.manifest)

    def set_state(self, rec: Recorder, state: str) -> None:
        """Write `rec`'s state ('defined', 'recording', 'stopped') to the catalog."""
        self.db.execute("UPDATE streams SET state=?, updated_ns=? WHERE uri=?", (state, now_ns(), rec.definition.uri))

    def channel_names(self, uri: str) -> dict[int, str]:
        row = self.db.execute("SELECT channel_names_json FROM streams WHERE uri=?", (uri,)).fetchone()
        return {int(k): v for k, v in json.loads(row["channel_names_json"]).items()} if row else {}

    def set_channel_names(self, uri: str, names: dict[int, str]) -> None:
        self.db.execute("UPDATE streams SET channel_names_json=?, updated_ns=? WHERE uri=?",
                        (json.dumps({str(k): v for k, v in sorted(names.items())}), now_ns(), uri))

    def note_error(self, rec: Recorder) -> None:
        """Keep `rec.last_error` across a restart."""
        self.db.execute("UPDATE streams SET last_error=? WHERE uri=?", (rec.last_error, rec.definition.uri))

    def stopped(self, rec: Recorder) -> str:
        """`rec` stopped: store its manifest in CAS and name it in the row; returns the manifest's digest."""
        self.persist(rec)
        digest = self.store.put(rec.manifest.to_json())
        self.db.execute("UPDATE streams SET state='stopped', manifest_digest=?, updated_ns=? WHERE uri=?",
                        (digest, now_ns(), rec.definition.uri))
        return digest
