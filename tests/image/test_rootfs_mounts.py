"""A rootfs with something still mounted in it is never deleted: the host's files would go with it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from image import rootfs


def test_mounts_below_the_folder_are_found_and_others_are_not(tmp_path: Path) -> None:
    tree = tmp_path / "rootfs"
    mounts = (f"proc /proc proc rw 0 0\ntmpfs {tree}/dev/shm tmpfs rw 0 0\nproc {tree}/proc proc ro 0 0\n"
              f"tmpfs {tree}-other/x tmpfs rw 0 0\ntmpfs {tree} tmpfs rw 0 0\n")
    assert rootfs.mounts_inside(tree, mounts) == [f"{tree}/dev/shm", f"{tree}/proc"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_build_refuses_to_delete_a_rootfs_with_a_mount_inside(tmp_path: Path) -> None:
    shm = tmp_path / "rootfs/dev/shm"
    shm.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shm)], check=True)
    try:
        (shm / "host-file").write_text("still here")
        with pytest.raises(RuntimeError, match=rf"still mounted inside the old rootfs.*{shm}.*umount -l"):
            rootfs.build_rootfs("amd64", tmp_path / "rootfs", tmp_path / "no.whl", tmp_path / "stage")
        assert (shm / "host-file").read_text() == "still here"
    finally:
        subprocess.run(["umount", str(shm)], check=True)


def test_overlays_lay_over_a_reused_rootfs_again_replacing_links_and_files(tmp_path):
    """A reused rootfs already has every overlay file and link; applying them twice must replace, not fail."""
    tree = tmp_path / "rootfs"
    (tree / "usr/local/bin").mkdir(parents=True)
    (tree / "usr/local/bin/studio").symlink_to("/somewhere/old")
    for _ in range(2):
        rootfs.apply_overlays("arm64", tree)
    assert os.readlink(tree / "usr/local/bin/studio") == "/opt/studio/venv/bin/studio"
    assert (tree / "usr/local/lib/studio/boot-trial").stat().st_mode & 0o111
    assert os.readlink(tree / "usr/lib/systemd/system/multi-user.target.wants/studio-good-boot.service") == \
        "../studio-good-boot.service"
    amd64 = tmp_path / "amd64"
    rootfs.apply_overlays("amd64", amd64)
    assert (amd64 / "usr/local/sbin/studio-update").is_file()
    assert not (amd64 / "usr/local/lib/studio/boot-trial").exists()
