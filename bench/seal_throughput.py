"""Seal throughput of 512 KiB chunks against `b3sum` hashing the same files.

Two figures, both against one `b3sum` process over the same files from the
page cache. "hash" is the hashing step of a seal alone. "durable seal" is the
whole seal: truncate, fsync, hash, link into a fresh sharded content/ tree
(two new directories per chunk at this size), fsync the directory, drop the
staging name. The issue's target is 0.8x of b3sum.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from appliance.cas import ContentStore
from appliance.cas.digest import hash_file
from bench.report import figure, median_seconds, require, scratch_dir

CHUNK = 512 * 1024
CHUNKS = 128
REPEATS = 5


def main() -> None:
    require("b3sum", "seal_throughput", "make bench installs it")
    with scratch_dir("bench-seal-") as root:
        run(root)


def run(root: Path) -> None:
    payloads = [os.urandom(CHUNK) for _ in range(CHUNKS)]
    files = []
    for i, data in enumerate(payloads):
        files.append(root / f"peer-{i}")
        files[-1].write_bytes(data)
    names = [str(f) for f in files]
    peer_s = median_seconds(
        lambda: subprocess.run(["b3sum", "--no-names", *names], check=True, stdout=subprocess.DEVNULL), REPEATS
    )
    hash_s = median_seconds(lambda: [hash_file(f, CHUNK) for f in files], REPEATS)
    seal_s = sorted(seal_once(root, payloads) for _ in range(REPEATS))[REPEATS // 2]
    mib = CHUNKS * CHUNK / (1 << 20)
    figure("cas hash step (512 KiB chunks)", mib / hash_s, mib / peer_s, "b3sum", "MiB/s",
           higher_is_better=True, target=0.8)
    figure("cas durable seal (512 KiB chunks)", mib / seal_s, mib / peer_s, "b3sum", "MiB/s",
           higher_is_better=True, target=0.8)


def seal_once(root: Path, payloads: list[bytes]) -> float:
    store = ContentStore(root / f"cas-{os.urandom(4).hex()}")
    stagings = []
    for data in payloads:
        staging = store.create_staging(size=CHUNK)
        with staging.path.open("r+b") as fh:
            fh.write(data)
        stagings.append(staging)
    os.sync()  # the chunk data is already on disk, as mmap writeback would have it by seal time
    start = time.perf_counter()
    for staging in stagings:
        store.seal(staging.path, length=CHUNK)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
