"""Operator passwords: argon2id hashes, the minimum length, and the tag that ends the
sessions of a changed password.

argon2-cffi (the reference implementation's bindings, maintained by Hynek Schlawack) is
what a Python engineer expects for password hashing: argon2id won the Password Hashing
Competition and is RFC 9106's first choice; its memory cost is what makes a stolen hash
expensive to guess at on GPUs, where a plain or salted SHA-256 costs nothing. The
parameters are argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes,
4 lanes) and are read back from each hash, so a hash made with other parameters still
verifies.
"""

from __future__ import annotations

import functools
import hashlib

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

from intermodal.errors import ConfigurationError

MIN_LENGTH = 12
"""The shortest password or tower token accepted: a 1-character one was accepted once,
and twelve characters is where a passphrase of three common words lands."""

MAX_LENGTH = 1024
"""What the login form reads of a password; a longer one could never be typed in."""

HASH_PREFIX = "$argon2id$"

_hasher = PasswordHasher()


class PasswordError(ConfigurationError, ValueError):
    """A password or hash that cannot be used, with the reason to show its owner."""


def check_length(password: str) -> None:
    """Refuse a password the form could not hold or that is too short to resist guessing."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(
            f"use at least {MIN_LENGTH} characters (it has {len(password)}): a passphrase"
            " of three or four words is long enough and easy to type"
        )
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"use at most {MAX_LENGTH} characters")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The argon2id hash of `password` (PHC string format, `$argon2id$v=19$...`).

    `salt` is for hashes made at configuration load from a password reference: every
    process (workers, the applier, a restart) must derive the same hash, or the sessions'
    credential tag would change under them. A hash for storing uses a random salt.
    """
    check_length(password)
    return _hasher.hash(password, salt=salt)


def check_hash(encoded: str) -> None:
    """Refuse anything but a well-formed argon2id hash, naming what is wrong (the hash
    itself is not secret, but it is never echoed either)."""
    if not encoded.startswith(HASH_PREFIX):
        raise PasswordError(
            "not an argon2id hash: it must start with $argon2id$"
            " (make one with `intermodal tower hash-password`)"
        )
    try:
        parameters = extract_parameters(encoded)
    except InvalidHashError as exc:
        raise PasswordError(
            "a malformed argon2id hash (copy the whole line `intermodal tower hash-password`"
            " printed, quoted in YAML)"
        ) from exc
    if parameters.type is not Type.ID:
        raise PasswordError("not an argon2id hash")


def verify(encoded: str, password: str) -> bool:
    """Whether `password` is the one `encoded` was made from; False for any malformed
    input rather than an exception (a login form sends anything)."""
    try:
        return _hasher.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def reference_salt(user: str) -> bytes:
    """The salt of the hash made at load for `user`'s password reference (see
    `hash_password`): per user, so two users with one password get different hashes."""
    return hashlib.sha256(b"intermodal tower password\x00" + user.encode()).digest()[:16]


def credential_tag(encoded: str) -> str:
    """A short fingerprint of a user's current hash, kept with each session: a new
    password (a new hash) no longer matches it and the old sessions end. Guessing the
    password from it costs an argon2 computation per guess, like the hash itself."""
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


@functools.cache
def unknown_user_hash() -> str:
    """Verified against for an unknown user, so a wrong name costs the same time as a wrong
    password and the answer's timing does not tell which user names exist. Made at first
    use (the tower makes it when it starts), not at import: an argon2id hash costs every
    process that imports this module (each worker, the applier, every CLI call) about
    0.15 s of CPU and 64 MiB."""
    return _hasher.hash("intermodal: compared against when the user name is unknown")


def burn(password: str) -> None:
    """Spend what a verification costs, for a login whose user does not exist."""
    verify(unknown_user_hash(), password)
