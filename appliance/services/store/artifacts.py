"""Artifacts: what agents get back. A content hash in CAS, a MIME type, tags, a parent, lineage metadata.

An artifact's bytes live in CAS (a session artifact has none: it is a logical
container whose metadata references stream manifests). `artifact_chunks`
records which chunks an artifact depends on, so retention and `cas gc` keep them.
What agents see of one is an `ArtifactInfo`, the result of `artifact_get`.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from appliance.cas import ContentStore
from appliance.services.results import ResultModel
from appliance.services.store.catalog import now_ns
from appliance.services.service_error import ServiceError

MAX_LIST = 500


class ArtifactInfo(ResultModel):
    id: str
    content_hash: str | None = Field(description="null for a container with no bytes (a session artifact)")
    mime: str
    bytes: int
    parent_id: str | None
    tags: list[str]
    metadata: dict[str, Any] = Field(description="lineage (source stream, window, chunks, clocks) and the like")
    created_ns: int
    download_url: str | None = Field(description="null when there are no bytes to download")


class ArtifactList(ResultModel):
    artifacts: list[ArtifactInfo]


class RegisteredArtifact(ArtifactInfo):
    artifact_id: str = Field(description="the same as id")


@dataclass(frozen=True)
class ArtifactRecord:
    """An artifact as the catalog keeps it (with the chunks a virtual slice names); agents see its `info()`."""

    id: str
    content_hash: str | None
    mime: str
    bytes: int
    parent_id: str | None
    tags: list[str]
    metadata: dict[str, Any]
    created_ns: int
    chunks: list[str] = field(default_factory=list)

    def info(self) -> ArtifactInfo:
        """What agents see: no chunk list, and a download URL when there are bytes."""
        return ArtifactInfo(id=self.id, content_hash=self.content_hash, mime=self.mime, bytes=self.bytes,
                            parent_id=self.parent_id, tags=self.tags, metadata=self.metadata,
                            created_ns=self.created_ns,
                            download_url=f"/artifacts/{self.id}" if self.content_hash else None)

    def registered(self) -> RegisteredArtifact:
        """`info()`, with the id also under the name `artifact_register` answers with."""
        return RegisteredArtifact(artifact_id=self.id, **self.info().model_dump())


def new_artifact_id() -> str:
    return "art-" + secrets.token_hex(8)


Announce = Callable[[ArtifactRecord], None]


class ArtifactStore:
    def __init__(self, db: sqlite3.Connection, store: ContentStore, announce: Announce | None = None) -> None:
        self.db = db
        self.store = store
        self.announce = announce or (lambda _artifact: None)

    def add(self, *, content_hash: str | None, mime: str, tags: list[str] | None = None, parent_id: str | None = None,
            metadata: dict[str, Any] | None = None, chunks: list[str] | None = None) -> ArtifactRecord:
        """Record an artifact whose bytes (if any) are already sealed in CAS."""
        if parent_id is not None:
            self.get(parent_id)
        if content_hash and not self.store.exists(content_hash):
            raise ServiceError("notFound", f"content_hash: {content_hash} is not in the content store")
        size = self.store.path(content_hash).stat().st_size if content_hash else 0
        artifact = ArtifactRecord(new_artifact_id(), content_hash, mime, size, parent_id, sorted(set(tags or [])),
                            metadata or {}, now_ns(), list(dict.fromkeys(chunks or [])))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT INTO artifacts (id, content_hash, mime, bytes, parent_id, metadata_json, created_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (artifact.id, content_hash, mime, size, parent_id, json.dumps(artifact.metadata), artifact.created_ns))
            self.db.executemany("INSERT INTO artifact_tags (artifact_id, tag) VALUES (?, ?)",
                                [(artifact.id, t) for t in artifact.tags])
            self.db.executemany("INSERT INTO artifact_chunks (artifact_id, digest) VALUES (?, ?)",
                                [(artifact.id, d) for d in artifact.chunks])
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise
        self.announce(artifact)
        return artifact

    def add_file(self, path: Path, **fields: Any) -> ArtifactRecord:
        """Seal a finished staging file into CAS and record it."""
        digest = self.store.seal(path)
        return self.add(content_hash=digest, **fields)

    def get(self, artifact_id: str) -> ArtifactRecord:
        row = self.db.execute("SELECT * FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        if row is None:
            raise ServiceError("notFound", f"artifact_id: no artifact {artifact_id!r}")
        return self._artifact(row)

    def list(self, tag: str | None = None, limit: int = 100) -> list[ArtifactRecord]:
        limit = max(1, min(limit, MAX_LIST))
        if tag:
            rows = self.db.execute(
                "SELECT a.* FROM artifacts a JOIN artifact_tags t ON t.artifact_id=a.id WHERE t.tag=?"
                " ORDER BY a.created_ns DESC LIMIT ?", (tag, limit))
        else:
            rows = self.db.execute("SELECT * FROM artifacts ORDER BY created_ns DESC LIMIT ?", (limit,))
        return [self._artifact(r) for r in rows.fetchall()]

    def content_path(self, artifact_id: str) -> tuple[ArtifactRecord, Path]:
        artifact = self.get(artifact_id)
        if not artifact.content_hash:
            raise ServiceError("notFound", f"artifact {artifact_id} is a container with no bytes to download")
        return artifact, self.store.path(artifact.content_hash)

    def _artifact(self, row: sqlite3.Row) -> ArtifactRecord:
        tags = [r["tag"] for r in self.db.execute("SELECT tag FROM artifact_tags WHERE artifact_id=?", (row["id"],))]
        chunks = [r["digest"] for r in self.db.execute("SELECT digest FROM artifact_chunks WHERE artifact_id=?",
                                                       (row["id"],))]
        return ArtifactRecord(row["id"], row["content_hash"], row["mime"], row["bytes"], row["parent_id"], tags,
                        json.loads(row["metadata_json"]), row["created_ns"], chunks)
