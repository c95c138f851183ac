"""Bad copies of a good update file, for the tests that show a box refuses them: altered, unsigned, signed by another key.

Each is what an attacker (or a broken transfer) could hand the owner: the
tar stays well-formed, so only studio-update's signature and checksum checks
stand between it and the box's other slot.
"""

from __future__ import annotations

import copy
import io
import shutil
import tarfile
import tempfile
from pathlib import Path

from image import signing
from image.update import SIGNATURE, SUMS


def altered(update: Path, member: str, target: Path) -> Path:
    """A copy of `update` with one bit of one byte of `member` flipped, in the middle of it; returns `target`."""
    with tarfile.open(update) as tar:
        info = tar.getmember(member)
    if info.size == 0:
        raise ValueError(f"{update}: {member} is empty, there is no byte to change")
    shutil.copyfile(update, target)
    with target.open("r+b") as fh:
        fh.seek(info.offset_data + info.size // 2)
        byte = fh.read(1)[0]
        fh.seek(-1, io.SEEK_CUR)
        fh.write(bytes([byte ^ 0x01]))
    return target


def _rewritten(update: Path, target: Path, replaced: dict[str, bytes | None]) -> Path:
    """A copy of `update` with the members named in `replaced` given new content (None: left out)."""
    with tarfile.open(update) as source, tarfile.open(target, "w") as tar:
        for member in source.getmembers():
            if member.name not in replaced:
                tar.addfile(member, source.extractfile(member))
            elif (content := replaced[member.name]) is not None:
                info = copy.copy(member)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return target


def unsigned(update: Path, target: Path) -> Path:
    """`update` without its SHA256SUMS.gpg: an update as they were before they were signed."""
    return _rewritten(update, target, {SIGNATURE: None})


def signed_by(update: Path, key: signing.SigningKey, target: Path) -> Path:
    """`update` with its SHA256SUMS signed by `key` instead: every checksum right, the signer wrong."""
    with tarfile.open(update) as tar, tempfile.TemporaryDirectory(prefix="studio-forged-") as scratch:
        sums = Path(scratch) / SUMS
        with tar.extractfile(SUMS) as fh:
            sums.write_bytes(fh.read())
        signature = signing.sign(key, sums).read_bytes()
    return _rewritten(update, target, {SIGNATURE: signature})
