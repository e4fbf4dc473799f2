"""Identifiers and clock helpers shared by the engine: sortable ids, one timestamp format."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from datetime import UTC, datetime


def sortable_id(prefix: str) -> str:
    """`prefix_` + 26 base32 chars: 48-bit millisecond time, then 80 random bits.

    Sorts by creation time (like a ULID) so receipts and commands list in arrival order.
    """
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{base64.b32encode(raw).decode().rstrip('=').lower()}"


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id from its parts: replays and retries produce the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """The one stored timestamp format: UTC, microseconds, sortable as text."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)
