"""The update signing key: an OpenPGP key kept outside the repository that signs every update's SHA256SUMS.

A box installs only update files whose `SHA256SUMS.gpg` is a good signature
by a key in the keyring its image was built with
(`/usr/share/keyrings/studio-update.gpg`, on the read-only root), checked by
`studio-update` with gpgv. The build makes the key on first use, in
`~/.local/share/studio-image/update-signing` or the folder given by
`--signing-key` or `STUDIO_SIGNING_KEY`, and reuses it afterwards: losing it
means no box flashed from those builds can be updated again, so it must be
backed up. gpg does the cryptography; this module only runs it.

`python -m image.signing [--signing-key FOLDER]` says which key a build
would use, making it first if there is none (the first step of a rotation).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ENVIRONMENT = "STUDIO_SIGNING_KEY"
DEFAULT_FOLDER = Path.home() / ".local/share/studio-image/update-signing"
KEYRING = "usr/share/keyrings/studio-update.gpg"
SIGNATURE_SUFFIX = ".gpg"


@dataclass(frozen=True)
class SigningKey:
    """One signing key: its folder (a gpg home with the secret key) and its fingerprint."""

    folder: Path
    fingerprint: str

    @property
    def home(self) -> Path:
        return self.folder / "gnupg"

    @property
    def public_file(self) -> Path:
        """The public key alone (`gpg --export`), for `--also-trust` on a build signed with another key."""
        return self.folder / "public-key.gpg"


def folder_for(option: Path | None) -> Path:
    """Where the key lives: `--signing-key`, else $STUDIO_SIGNING_KEY, else ~/.local/share/studio-image/update-signing."""
    if option is not None:
        return option.expanduser().resolve()
    if os.environ.get(ENVIRONMENT):
        return Path(os.environ[ENVIRONMENT]).expanduser().resolve()
    return DEFAULT_FOLDER


@contextmanager
def _gpg_home(home: Path) -> Iterator[Path]:
    # Secret-key work starts a gpg-agent for the home; stop it so a build leaves no daemon behind.
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


def _gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    if shutil.which("gpg") is None:
        raise RuntimeError("gpg is not installed: the update signing key needs it (Debian package gpg, "
                           "which `make image` installs)")
    done = subprocess.run(["gpg", "--batch", "--quiet", "--homedir", str(home), *args], input=input,
                          capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)} (home {home}): exit {done.returncode}: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _fingerprints(colons: bytes, kind: str) -> list[str]:
    """Primary-key fingerprints from gpg's --with-colons listing: the `fpr` line after each `kind` (pub or sec) line."""
    found, after_key = [], False
    for line in colons.decode().splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sec", "sub", "ssb"):
            after_key = fields[0] == kind
        elif fields[0] == "fpr" and after_key:
            found.append(fields[9])
            after_key = False
    return found


def load(folder: Path) -> SigningKey:
    """The key in `folder`; ValueError saying what is missing or wrong."""
    key_home = folder / "gnupg"
    if not key_home.is_dir():
        raise ValueError(f"{folder}: no update signing key here (expected a gpg home in {key_home}); "
                         f"give the folder of an existing key with --signing-key or ${ENVIRONMENT}, or let "
                         "`python -m image.build` make one")
    with _gpg_home(key_home):
        secret = _fingerprints(_gpg(key_home, "--with-colons", "--list-secret-keys"), "sec")
    if len(secret) != 1:
        raise ValueError(f"{key_home}: holds {len(secret)} secret keys, an update signing key folder holds exactly one")
    key = SigningKey(folder, secret[0])
    if not key.public_file.is_file():
        key.public_file.write_bytes(export_public(key))
    return key


def create(folder: Path) -> SigningKey:
    """A new Ed25519 signing key in `folder` (made 0700), without a passphrase so builds run unattended."""
    if (folder / "gnupg").exists():
        raise ValueError(f"{folder}: already holds a signing key; refusing to replace it")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    (folder / "gnupg").mkdir(mode=0o700)
    user_id = f"Studio box updates (made on {socket.gethostname()} {date.today().isoformat()})"
    try:
        with _gpg_home(folder / "gnupg") as home:
            # No expiry: gpgv does not check it, and a box must take the next update whenever it comes.
            _gpg(home, "--passphrase", "", "--quick-generate-key", user_id, "ed25519", "sign", "never")
    except RuntimeError:
        # A half-made home would read as "holds 0 secret keys" on every later build.
        shutil.rmtree(folder / "gnupg")
        raise
    return load(folder)


def load_or_create(folder: Path, say: Callable[[str], None]) -> SigningKey:
    """The key in `folder`, made there first if the folder holds none; says which key and where."""
    if (folder / "gnupg").is_dir():
        key = load(folder)
        say(f"update signing key {key.fingerprint} from {folder}")
        return key
    key = create(folder)
    say(f"update signing key: made a new one, {key.fingerprint}, in {folder}")
    say("  keep that folder safe and back it up: boxes flashed from this build install only updates it signs, "
        "and without it they can only be reflashed. Anyone holding it can update those boxes")
    return key


def export_public(key: SigningKey) -> bytes:
    """The public key as binary OpenPGP (what gpgv's --keyring reads)."""
    with _gpg_home(key.home):
        return _gpg(key.home, "--export", key.fingerprint)


def sign(key: SigningKey, path: Path) -> Path:
    """A detached binary signature of `path`, written beside it as `<name>.gpg`; returns its path."""
    signature = path.with_name(path.name + SIGNATURE_SUFFIX)
    signature.unlink(missing_ok=True)
    with _gpg_home(key.home):
        _gpg(key.home, "--local-user", key.fingerprint, "--detach-sign", "--output", str(signature), str(path))
    return signature


def keyring_fingerprints(keyring: bytes) -> list[str]:
    """The primary-key fingerprints of a keyring file's content (read with gpg in a throwaway home); ValueError if
    it holds no public key."""
    with tempfile.TemporaryDirectory(prefix="studio-keys-") as scratch:
        done = subprocess.run(["gpg", "--batch", "--quiet", "--homedir", scratch, "--with-colons", "--show-keys"],
                              input=keyring, capture_output=True)
    found = _fingerprints(done.stdout, "pub") if done.returncode == 0 else []
    if not found:
        raise ValueError(f"not an OpenPGP public key or keyring ({done.stderr.decode(errors='replace').strip()})")
    return found


def keyring(key: SigningKey, also_trust: list[Path]) -> bytes:
    """The keyring a build puts in its image: the signing key's public key, then each of `also_trust`.

    Concatenated exports are a valid keyring for gpgv. `also_trust` is how a
    key is rotated: boxes that install a build signed by the old key and also
    trusting the new one take updates signed by the new key afterwards.
    """
    parts = [export_public(key)]
    for path in also_trust:
        try:
            public = path.read_bytes()
            keyring_fingerprints(public)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--also-trust {path}: {exc}; give the public-key.gpg of a signing key folder "
                             "(or any `gpg --export` output)") from exc
        parts.append(public)
    return b"".join(parts)


def install_keyring(rootfs: Path, content: bytes) -> Path:
    """Write the keyring into the rootfs, where studio-update reads it; returns its path."""
    path = rootfs / KEYRING
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o644)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image.signing", description=__doc__.splitlines()[0])
    parser.add_argument("--signing-key", type=Path, metavar="FOLDER",
                        help=f"the key's folder (default ${ENVIRONMENT}, else {DEFAULT_FOLDER}); made if it holds none")
    args = parser.parse_args(argv)
    try:
        key = load_or_create(folder_for(args.signing_key), print)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"public key for --also-trust: {key.public_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
