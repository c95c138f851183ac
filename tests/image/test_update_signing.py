"""Signed update files: the build's signing key (image.signing), packing (image.update.pack), and the check that
studio-update runs on the box before it writes anything, run here from the overlay's own script with the host's gpgv."""

import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest

from image import forged_updates, signing, sysupdate, update
from tests.image.overlay_scripts import studio_update

VERSION = "0.1.0.20261129171500"
PIECES = sorted(sysupdate.source_names("amd64", VERSION).values())
MEMBERS = [update.MANIFEST, update.SUMS, update.SIGNATURE, *PIECES]


@pytest.fixture(scope="module")
def keys():
    """Two signing keys, the build's and someone else's, in short paths (gpg-agent's socket path is limited)."""
    folder = Path(tempfile.mkdtemp(prefix="sk-", dir="/tmp"))
    try:
        yield {name: signing.create(folder / name) for name in ("ours", "theirs")}
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def made(keys, tmp_path):
    """An update file of small stand-in pieces signed with our key, and the keyring a box built with it trusts."""
    stage = tmp_path / "stage"
    stage.mkdir()
    for name in PIECES:
        (stage / name).write_bytes(f"{name} of {VERSION}\n".encode() * 50)
    target = update.pack(stage, "amd64", VERSION, keys["ours"], tmp_path / update.file_name("amd64", VERSION))
    keyring = tmp_path / "studio-update.gpg"
    keyring.write_bytes(signing.keyring(keys["ours"], []))
    return {"file": target, "keyring": keyring, "dir": tmp_path}


def unpack(path: Path, keyring: Path, arch: str = "amd64") -> dict:
    into = path.parent / "unpacked"
    if into.exists():
        shutil.rmtree(into)
    into.mkdir()
    return studio_update.verified_unpack(path, into, keyring, arch)


def test_a_signed_update_unpacks_to_exactly_its_pieces(made):
    assert unpack(made["file"], made["keyring"]) == {"arch": "amd64", "version": VERSION}
    unpacked = made["dir"] / "unpacked"
    assert sorted(p.name for p in unpacked.iterdir()) == sorted(MEMBERS)
    assert (unpacked / PIECES[0]).read_bytes() == f"{PIECES[0]} of {VERSION}\n".encode() * 50


def test_the_signature_covers_every_member_and_comes_before_the_pieces(made):
    with tarfile.open(made["file"]) as tar:
        names = tar.getnames()
        sums = tar.extractfile(update.SUMS).read().decode()
    assert names == MEMBERS
    assert sorted(line.split("  ")[1] for line in sums.splitlines()) == sorted([update.MANIFEST, *PIECES])


@pytest.mark.parametrize("member", MEMBERS)
def test_one_changed_byte_in_any_member_is_refused(made, member):
    altered = forged_updates.altered(made["file"], member, made["dir"] / "altered.tar")
    with pytest.raises(studio_update.Refused) as refused:
        unpack(altered, made["keyring"])
    message = str(refused.value)
    if member == update.SIGNATURE:
        # A changed signature packet either no longer verifies or no longer parses; either way it names the file.
        assert "SHA256SUMS.gpg" in message
    elif member == update.SUMS:
        assert "SHA256SUMS does not match SHA256SUMS.gpg: the update was altered after it was signed" in message
    else:
        assert f"{member} does not match its SHA256SUMS line: it was altered after the update was signed" in message


def test_an_update_signed_by_another_key_is_refused_naming_that_key(keys, made):
    forged = forged_updates.signed_by(made["file"], keys["theirs"], made["dir"] / "theirs.tar")
    with pytest.raises(studio_update.Refused, match=f"signed by key {keys['theirs'].fingerprint}, which this box "
                                                    "does not trust"):
        unpack(forged, made["keyring"])


def test_an_unsigned_update_is_refused_as_unsigned(made):
    forged = forged_updates.unsigned(made["file"], made["dir"] / "unsigned.tar")
    with pytest.raises(studio_update.Refused, match="no SHA256SUMS.gpg in it: the update is not signed"):
        unpack(forged, made["keyring"])


def test_a_member_the_signature_does_not_cover_is_refused(made):
    extra = made["dir"] / "extra.tar"
    shutil.copyfile(made["file"], extra)
    with tarfile.open(extra, "a") as tar:
        info = tarfile.TarInfo("studio_9.9.9.root.raw.gz")
        tar.addfile(info)
    with pytest.raises(studio_update.Refused, match="studio_9.9.9.root.raw.gz not in SHA256SUMS"):
        unpack(extra, made["keyring"])


def test_an_update_for_another_arch_is_refused_after_its_signature_checks(made):
    with pytest.raises(studio_update.Refused, match="made for 'amd64', this box is 'arm64'"):
        unpack(made["file"], made["keyring"], arch="arm64")


def test_a_box_built_with_another_key_refuses_our_updates(keys, made):
    their_box = made["dir"] / "their-keyring.gpg"
    their_box.write_bytes(signing.keyring(keys["theirs"], []))
    with pytest.raises(studio_update.Refused, match=f"signed by key {keys['ours'].fingerprint}"):
        unpack(made["file"], their_box)


def test_a_box_that_also_trusts_a_new_key_takes_updates_signed_by_either(keys, made):
    """Key rotation: a build signed by the old key carries the new one too, so the next update may be signed by it."""
    rotating = made["dir"] / "rotating.gpg"
    rotating.write_bytes(signing.keyring(keys["ours"], [keys["theirs"].public_file]))
    assert signing.keyring_fingerprints(rotating.read_bytes()) == [keys["ours"].fingerprint,
                                                                  keys["theirs"].fingerprint]
    assert unpack(made["file"], rotating)["version"] == VERSION
    by_new_key = forged_updates.signed_by(made["file"], keys["theirs"], made["dir"] / "new-key.tar")
    assert unpack(by_new_key, rotating)["version"] == VERSION


def test_a_file_that_is_no_public_key_cannot_be_trusted(keys, tmp_path):
    junk = tmp_path / "junk.gpg"
    junk.write_text("not a key\n")
    with pytest.raises(ValueError, match=f"--also-trust {junk}: not an OpenPGP public key"):
        signing.keyring(keys["ours"], [junk])


def test_the_key_is_made_once_said_loudly_and_reused(short_tmp):
    folder, said = short_tmp / "update-signing", []
    made = signing.load_or_create(folder, said.append)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert made.fingerprint in said[0] and str(folder) in said[0]
    assert "back it up" in " ".join(said)
    said.clear()
    again = signing.load_or_create(folder, said.append)
    assert again == made and said == [f"update signing key {made.fingerprint} from {folder}"]
    assert signing.keyring_fingerprints(made.public_file.read_bytes()) == [made.fingerprint]


def test_a_folder_without_a_key_is_refused_by_load_saying_how_to_get_one(short_tmp):
    with pytest.raises(ValueError, match="no update signing key here"):
        signing.load(short_tmp)


def test_the_key_folder_comes_from_the_option_then_the_environment_then_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv(signing.ENVIRONMENT, raising=False)
    assert signing.folder_for(None) == signing.DEFAULT_FOLDER
    monkeypatch.setenv(signing.ENVIRONMENT, str(tmp_path / "from-env"))
    assert signing.folder_for(None) == tmp_path / "from-env"
    assert signing.folder_for(tmp_path / "from-option") == tmp_path / "from-option"


def test_an_update_is_only_packed_from_a_root_that_trusts_its_signing_key(keys, tmp_path):
    rootfs = tmp_path / "rootfs"
    with pytest.raises(ValueError, match="trusts no signing key"):
        update.check_trusted(rootfs, keys["ours"])
    signing.install_keyring(rootfs, signing.keyring(keys["theirs"], []))
    with pytest.raises(ValueError, match=f"the signing key {keys['ours'].fingerprint} .* is not one this rootfs "
                                         "trusts"):
        update.check_trusted(rootfs, keys["ours"])
    signing.install_keyring(rootfs, signing.keyring(keys["theirs"], [keys["ours"].public_file]))
    update.check_trusted(rootfs, keys["ours"])


def test_the_build_puts_the_keyring_where_studio_update_reads_it():
    assert Path("/") / signing.KEYRING == studio_update.KEYRING
    assert update.SIGNATURE == studio_update.SIGNATURE and update.SUMS == studio_update.SUMS
    assert update.MANIFEST == studio_update.MANIFEST
