"""BLAKE3 digests: how content is named, and how it is hashed fast.

One thread is fastest for small inputs; past about 256 KiB BLAKE3's own
thread pool over a memory map wins (measured by `bench/seal_throughput.py`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import blake3

PARALLEL_THRESHOLD = 256 * 1024
_HEX = re.compile(r"[0-9a-f]{64}")


class DigestError(ValueError):
    """A string that is not a 64-character lowercase hex BLAKE3 digest."""


class Digest(str):
    """A 64-hex BLAKE3 digest; constructing one validates it."""

    def __new__(cls, value: str) -> "Digest":
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise DigestError(f"not a BLAKE3 digest (64 lowercase hex characters): {value!r}")
        return super().__new__(cls, value)


def hash_bytes(data: bytes | memoryview) -> Digest:
    threads = blake3.blake3.AUTO if len(data) >= PARALLEL_THRESHOLD else 1
    return Digest(blake3.blake3(data, max_threads=threads).hexdigest())


def hash_file(path: Path, length: int | None = None) -> Digest:
    """Hash a whole file (whose size is `length` when known)."""
    size = os.stat(path).st_size if length is None else length
    if size < PARALLEL_THRESHOLD:
        return hash_bytes(path.read_bytes())
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return Digest(hasher.hexdigest())


def new_staging_id() -> Digest:
    """A fresh staging id: the hash of random bytes, so it looks like any content address."""
    return hash_bytes(os.urandom(32))
