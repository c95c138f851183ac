"""The store on disk: `<root>/{content,staging}/blake3/ab/cd/<64 hex>`.

Staging files are written in place (chaosgarden maps them); `seal` turns one
into immutable content: truncate to the written length, hash, fsync, link
into `content/` (copy when across filesystems), fsync the directory, and only
then drop the staging name, so a crash at any point leaves either the staging
file or the content file, never neither and never a half-written content file.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from appliance.cas.digest import Digest, hash_file, new_staging_id

log = logging.getLogger(__name__)

ALGORITHM = "blake3"
PARTIAL_SUFFIX = ".partial"

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) during long work."""


class ContentMissing(FileNotFoundError):
    """No sealed content with that digest."""


class SealError(OSError):
    """A staging file could not be sealed; the staging file is left as it was."""


@dataclass(frozen=True, slots=True)
class StagingFile:
    id: Digest
    path: Path


@dataclass
class VerifyReport:
    checked: int = 0
    bytes: int = 0
    mismatched: list[tuple[Digest, Digest]] = field(default_factory=list)  # (name, actual)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.unreadable


class ContentStore:
    """One CAS root. Safe to use from several threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.content_dir = self.root / "content" / ALGORITHM
        self.staging_dir = self.root / "staging" / ALGORITHM
        self.content_dir.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)

    # -- addresses -------------------------------------------------------
    def path(self, digest: str) -> Path:
        """Where content `digest` lives (whether or not it exists)."""
        return _sharded(self.content_dir, Digest(digest))

    def staging_path(self, staging_id: str) -> Path:
        return _sharded(self.staging_dir, Digest(staging_id))

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise ContentMissing(f"no content {digest} in {self.content_dir}") from None

    # -- writing ---------------------------------------------------------
    def create_staging(self, size: int = 0) -> StagingFile:
        """A new empty staging file, extended to `size` bytes (sparse) for mapping."""
        staging_id = new_staging_id()
        path = self.staging_path(staging_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if size:
                os.ftruncate(fd, size)
        finally:
            os.close(fd)
        return StagingFile(staging_id, path)

    def put(self, data: bytes) -> Digest:
        """Store `data` as content (via a staging file) and return its digest."""
        staging = self.create_staging()
        with staging.path.open("wb") as fh:
            fh.write(data)
        return self.seal(staging.path)

    def seal(self, staging: Path, length: int | None = None, release: bool = True) -> Digest:
        """Make staging file `staging` immutable content, keeping its first `length` bytes.

        With `release=False` the staging name stays (call `release`) so that a
        caller can record the digest before the staging name disappears.
        Sealing content that already exists is a no-op apart from the release.
        """
        staging = Path(staging)
        try:
            digest = self._hash_durably(staging, length)
            self._install(staging, self.path(digest))
        except OSError as exc:
            raise SealError(exc.errno, f"cannot seal {staging}: {exc.strerror or exc}") from exc
        if release:
            self.release(staging)
        return digest

    def release(self, staging: Path) -> None:
        """Drop a staging name (after its content is sealed or abandoned)."""
        # No directory fsync: a staging name that comes back after a crash
        # re-seals to the same digest, so losing this unlink is harmless.
        Path(staging).unlink(missing_ok=True)

    def _hash_durably(self, staging: Path, length: int | None) -> Digest:
        fd = os.open(staging, os.O_RDWR)
        try:
            if length is not None and os.fstat(fd).st_size != length:
                os.ftruncate(fd, length)
            os.fsync(fd)
        finally:
            os.close(fd)
        return hash_file(staging, length)

    def _install(self, staging: Path, target: Path) -> None:
        try:
            _link(staging, target)
        except FileExistsError:
            return  # equal digest, equal content: already sealed
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                raise
            self._copy_in(staging, target)
        os.chmod(target, 0o444)
        _fsync_dir(target.parent)

    def _copy_in(self, staging: Path, target: Path) -> None:
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        with staging.open("rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, target)

    # -- scanning --------------------------------------------------------
    def staging_files(self) -> list[StagingFile]:
        return [StagingFile(Digest(p.name), p) for p in _walk(self.staging_dir)]

    def content_digests(self) -> Iterator[Digest]:
        for path in _walk(self.content_dir):
            yield Digest(path.name)

    def scan_orphans(self, known: set[str]) -> list[StagingFile]:
        """Staging files nobody references, reported at start-up; half-copied content and half-written slices
        (nothing resumes either after a crash) removed."""
        for partial in [*self.content_dir.rglob(f"*{PARTIAL_SUFFIX}"), *self.staging_dir.rglob(f"*{PARTIAL_SUFFIX}")]:
            log.warning("removing %s, half written when the box stopped", partial)
            partial.unlink(missing_ok=True)
        orphans = [s for s in self.staging_files() if s.id not in known]
        if orphans:
            size = sum(s.path.stat().st_size for s in orphans)
            log.warning("%d orphaned staging files (%d bytes) under %s", len(orphans), size, self.staging_dir)
        return orphans

    def verify(self, progress: Progress | None = None) -> VerifyReport:
        """Rehash every content file; report those whose name is not their hash."""
        paths = list(_walk(self.content_dir))
        total = sum(_size(p) for p in paths)
        report = VerifyReport()
        for path in paths:
            try:
                actual = hash_file(path)
            except OSError as exc:
                report.unreadable.append((path, exc.strerror or str(exc)))
                continue
            if actual != path.name:
                report.mismatched.append((Digest(path.name), actual))
            report.checked += 1
            report.bytes += _size(path)
            if progress:
                progress(report.bytes, total)
        return report


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileNotFoundError:
        if not source.exists():
            raise
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)


def _sharded(base: Path, digest: Digest) -> Path:
    return base / digest[:2] / digest[2:4] / digest


def _walk(base: Path) -> Iterator[Path]:
    for path in sorted(base.glob("??/??/*")):
        if len(path.name) == 64 and path.is_file():
            yield path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
