import os
import shutil
import tempfile
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cas import ContentMissing, ContentStore, Digest, DigestError, SealError
from appliance.cas.digest import PARALLEL_THRESHOLD, hash_bytes


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "cas")


def write_staging(store: ContentStore, data: bytes, extra: int = 0):
    staging = store.create_staging(size=len(data) + extra)
    with staging.path.open("r+b") as fh:
        fh.write(data)
    return staging


def test_layout_is_sharded_blake3(store):
    digest = store.put(b"hello")
    assert digest == blake3.blake3(b"hello").hexdigest()
    assert store.path(digest) == store.root / "content" / "blake3" / digest[:2] / digest[2:4] / digest
    staging = store.create_staging()
    assert staging.path.parent.parent.parent == store.root / "staging" / "blake3"
    assert len(staging.id) == 64 and staging.id != digest


def test_seal_truncates_to_written_length(store):
    data = os.urandom(1000)
    staging = write_staging(store, data, extra=4096)  # preallocated chunk, partly written
    digest = store.seal(staging.path, length=len(data))
    assert store.path(digest).read_bytes() == data
    assert not staging.path.exists()
    assert store.path(digest).stat().st_mode & 0o222 == 0  # immutable


@pytest.mark.parametrize("size", [0, 1, PARALLEL_THRESHOLD - 1, PARALLEL_THRESHOLD, 3 * PARALLEL_THRESHOLD + 7])
def test_hash_matches_reference_across_the_thread_crossover(store, size):
    data = os.urandom(size)
    assert store.seal(write_staging(store, data).path) == blake3.blake3(data).hexdigest()


def test_seal_is_idempotent_for_equal_content(store):
    first = store.seal(write_staging(store, b"same").path)
    second = write_staging(store, b"same")
    assert store.seal(second.path) == first
    assert not second.path.exists()
    assert list(store.content_digests()) == [first]


def test_seal_without_release_keeps_staging_until_released(store):
    staging = write_staging(store, b"chunk")
    digest = store.seal(staging.path, release=False)
    assert staging.path.exists() and store.exists(digest)
    assert store.seal(staging.path) == digest  # re-seal after a crash: same answer, staging released
    assert not staging.path.exists()


def test_seal_across_filesystems_copies(tmp_path):
    shm = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        store = ContentStore(tmp_path / "cas")
        shutil.rmtree(store.staging_dir)
        store.staging_dir.symlink_to(shm)  # staging on tmpfs, content on disk: link gives EXDEV
        assert os.stat(shm).st_dev != os.stat(store.content_dir).st_dev
        data = os.urandom(300_000)
        staging = write_staging(store, data)
        digest = store.seal(staging.path)
        assert store.path(digest).read_bytes() == data
        assert not list(store.content_dir.rglob("*.partial"))
        assert not staging.path.exists()
    finally:
        shutil.rmtree(shm)


def test_seal_missing_staging_is_a_clear_error(store):
    with pytest.raises(SealError, match="cannot seal"):
        store.seal(store.staging_path("ab" * 32))


def test_open_missing_content(store):
    with pytest.raises(ContentMissing, match="no content"):
        store.open("cd" * 32)


@pytest.mark.parametrize("bad", ["", "xyz", "AB" * 32, "ab" * 31, "../../etc/passwd" + "a" * 48])
def test_bad_digests_are_refused(store, bad):
    with pytest.raises(DigestError, match="64 lowercase hex"):
        store.path(bad)


def test_verify_reports_corruption(store):
    good = store.put(b"good")
    bad = store.put(b"will rot")
    path = store.path(bad)
    os.chmod(path, 0o644)
    path.write_bytes(b"rotten")
    seen = []
    report = store.verify(lambda done, total: seen.append((done, total)))
    assert report.checked == 2 and not report.ok
    assert report.mismatched == [(bad, hash_bytes(b"rotten"))]
    assert seen[-1][0] == seen[-1][1]
    assert good not in [m[0] for m in report.mismatched]


def test_scan_reports_orphans_and_removes_half_copies(store, caplog):
    kept = write_staging(store, b"live chunk")
    orphan = write_staging(store, b"forgotten")
    half = store.content_dir / "ab" / "cd"
    half.mkdir(parents=True)
    (half / ("ab" * 32 + ".partial")).write_bytes(b"half")
    orphans = store.scan_orphans(known={kept.id})
    assert [o.id for o in orphans] == [orphan.id]
    assert "1 orphaned staging files" in caplog.text
    assert not list(store.content_dir.rglob("*.partial"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=70_000), st.integers(min_value=0, max_value=5000))
def test_round_trip_property(store, data, slack):
    staging = write_staging(store, data, extra=slack)
    digest = store.seal(staging.path, length=len(data))
    with store.open(digest) as fh:
        assert fh.read() == data
    assert Digest(digest) == hash_bytes(data)
