"""Secret references (`env:NAME` / `file:PATH`) and a value type that never leaks.

Configuration names where a secret lives, never the secret itself, so the YAML file can
be committed and shared; a literal secret in the file is a configuration error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from intermodal.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value with a redacted repr, so it cannot reach a log line by accident."""

    value: str = field(repr=False)
    origin: str = ""

    def __repr__(self) -> str:
        return f"Secret(<redacted from {self.origin or 'unknown'}>)"

    __str__ = __repr__

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(self.value.encode(), candidate.encode())

    def fingerprint(self) -> str:
        """A short, non-reversible tag to tell secrets apart in logs and the control tower."""
        return hashlib.sha256(self.value.encode()).hexdigest()[:8]


class SecretError(ConfigurationError, ValueError):
    pass


_resolved: set[str] = set()
"""Every secret value this process resolved, so the log redactor can mask them all."""


def resolved_values() -> frozenset[str]:
    return frozenset(_resolved)


def remember_resolved(values: Iterable[str]) -> None:
    """Register secrets resolved by another process (the applier's parent), so this
    process's log redactor masks them too."""
    _resolved.update(values)


def resolve_secret(reference: str, base_dir: Path | None = None) -> Secret:
    """Read `env:NAME` or `file:PATH` (relative to the config file's folder)."""
    kind, _, where = reference.partition(":")
    if kind == "env" and where:
        value = os.environ.get(where)
        if value is None or not value.strip():
            raise SecretError(f"environment variable {where} is not set")
        _resolved.add(value.strip())
        return Secret(value.strip(), origin=f"env:{where}")
    if kind == "file" and where:
        path = Path(where)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
        if not value:
            raise SecretError(f"secret file {path} is empty")
        _resolved.add(value)
        return Secret(value, origin=f"file:{path}")
    raise SecretError(
        "a secret must be a reference 'env:VARIABLE' or 'file:PATH', never the value itself"
    )


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def write_secret_file(path: Path, value: str, overwrite: bool = False) -> None:
    """Write a secret to a file only its owner can read (0600), with a final newline.

    An existing file is kept (FileExistsError) unless `overwrite`: replacing a partner's
    secret by accident locks the partner out.
    """
    text = value if value.endswith("\n") else value + "\n"
    write_owner_only(path, text.encode("utf-8"), overwrite)


def write_owner_only(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write a file only its owner can read (0600): a secret, or an export of payloads.

    The file is created with that mode (never widened by the umask, never chmod-ed after
    the data is in it), so no other user can read it for even a moment. An existing file
    is kept (FileExistsError) unless `overwrite`; an overwrite writes a new file beside it
    and renames it over the old one, so a reader sees the old content or the new, never
    half, and a file that was wider before is 0600 after. Something that is not a file
    (`/dev/stdout`, a pipe) is written to as it is.
    """
    if overwrite and path.exists() and not path.is_file():
        path.write_bytes(data)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    target = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp") if overwrite else path
    fd = os.open(target, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(target, path)
    except BaseException:
        if overwrite:
            target.unlink(missing_ok=True)
        raise


def webhook_key(secret: Secret) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the `whsec_` prefix."""
    text = secret.value.removeprefix("whsec_")
    text += "=" * (-len(text) % 4)  # unpadded secrets are common; the reference library pads
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(
            f"webhook secret from {secret.origin} is not 'whsec_' followed by base64"
        ) from None
    if len(key) < 16:
        raise SecretError(f"webhook secret from {secret.origin} is shorter than 16 bytes")
    return key
