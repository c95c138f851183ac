"""What CAS content is still needed, and removing the rest (housekeeping, and `cas_gc` / `studio cas gc`).

Needed: every chunk in a stream manifest, every artifact's bytes and the
chunks it names, sealed manifests and definitions, chunks mid-seal. Content
younger than a grace period is never removed, so a chunk sealed a moment ago
but not yet written into its manifest survives a collection that runs
beside a live hootenanny. A collection answers with a `GcDone`, the result of `cas_gc`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from appliance.cas import ContentStore
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.capture import manifest as manifests
from appliance.services.capture.manifest import ManifestError

GRACE_SECONDS = 600.0


class GcDone(ResultModel):
    kept: int = Field(description="files something references")
    young: int = Field(description="unreferenced files younger than the grace period, kept for now")
    removed: list[str] = Field(description="digests removed (or, with dry_run, that would be)")
    removed_bytes: int
    dry_run: bool


def referenced(db: sqlite3.Connection, store: ContentStore, unreadable: list[str] | None = None) -> set[str]:
    """Every digest something on the box still points at."""
    refs: set[str] = set()
    for row in db.execute("SELECT definition_digest, manifest_path, manifest_digest FROM streams"):
        refs.add(row["definition_digest"])
        for digest in (row["manifest_digest"],):
            if digest:
                refs.add(digest)
                refs |= _manifest_refs(store.path(digest), unreadable)
        if row["manifest_path"]:
            refs |= _manifest_refs(Path(row["manifest_path"]), unreadable)
    for row in db.execute("SELECT content_hash FROM artifacts WHERE content_hash IS NOT NULL"
                          " UNION SELECT digest FROM artifact_chunks"
                          " UNION SELECT digest FROM chunks_in_flight WHERE digest IS NOT NULL"):
        refs.add(row[0])
    for row in db.execute("SELECT metadata_json FROM artifacts WHERE mime='application/vnd.studio.session+json'"):
        for stream in json.loads(row[0]).get("streams", {}).values():
            refs.add(stream["manifest_hash"])
            refs |= _manifest_refs(store.path(stream["manifest_hash"]), unreadable)
    refs.discard("")
    return refs


def _manifest_refs(path: Path, unreadable: list[str] | None) -> set[str]:
    if not path.exists():
        return set()
    try:
        manifest = manifests.read(path)
    except ManifestError as exc:
        if unreadable is not None:
            unreadable.append(str(exc))
        return set()
    return {c.digest for c in manifest.chunks} | {manifest.definition_digest}


def references_or_refuse(db: sqlite3.Connection, store: ContentStore) -> set[str]:
    """What is referenced; refused while a manifest cannot be read, since its chunks would look unused."""
    unreadable: list[str] = []
    refs = referenced(db, store, unreadable)
    if unreadable:
        raise ServiceError("unavailable", "refusing to collect while a manifest cannot be read (its chunks would "
                                          f"look unused): {'; '.join(unreadable)}")
    return refs


def collect(store: ContentStore, refs: set[str], *, dry_run: bool = False, grace: float = GRACE_SECONDS,
            progress: Callable[[int, int], None] | None = None) -> GcDone:
    """Remove content nobody references (or, with dry_run, only report it)."""
    kept = young = removed_bytes = 0
    removed: list[str] = []
    digests = list(store.content_digests())
    now = time.time()
    for done, digest in enumerate(digests, start=1):
        path = store.path(digest)
        if digest in refs:
            kept += 1
        elif now - os.stat(path).st_ctime < grace:
            young += 1
        else:
            removed.append(digest)
            removed_bytes += path.stat().st_size
            if not dry_run:
                path.unlink(missing_ok=True)
        if progress:
            progress(done, len(digests))
    return GcDone(kept=kept, young=young, removed=removed, removed_bytes=removed_bytes, dry_run=dry_run)
