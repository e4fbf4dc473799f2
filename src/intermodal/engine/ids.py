"""Identifiers and clock helpers shared by the engine: sortable ids, one timestamp format."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache


class _RandomPool(threading.local):
    """Random bytes drawn from the OS a few kilobytes at a time, one pool per thread.

    `os.urandom` releases the GIL; on the ingest path every release lets the applier or
    the group committer take the interpreter for a whole switch interval, which showed
    up as ~0.7 ms per request. One system call per 400 ids removes that.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.offset = 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.buffer):
            self.buffer, self.offset = os.urandom(4096), 0
        chunk = self.buffer[self.offset : self.offset + size]
        self.offset += size
        return chunk


_POOL = _RandomPool()


def sortable_id(prefix: str) -> str:
    """`prefix_` + 32 hex digits: 48-bit millisecond time, then 80 random bits.

    Sorts by creation time (like a ULID) so receipts and commands list in arrival order.
    Hex rather than base32: `base64.b32encode` is pure Python and cost 4 us an id, a fifth
    of storing a 10,000-event batch.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{_POOL.take(10).hex()}"


def sortable_ids(prefix: str, count: int) -> list[str]:
    """`count` ids of `sortable_id`'s form with one clock reading and one random draw.

    A group commit of a 10,000-event batch named each row with its own `sortable_id`:
    21 ms of a 400 ms batch (BENCHMARKS.md, W6); drawn together they cost about 3 ms.
    """
    head = f"{prefix}_{time.time_ns() // 1_000_000:012x}"
    random = os.urandom(10 * count).hex()
    return [head + random[i : i + 20] for i in range(0, 20 * count, 20)]


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id from its parts: replays and retries produce the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_millis(value: datetime) -> int:
    """Whole milliseconds since 1970 (0 before it), in integers: `timestamp() * 1000` is a
    float product, which can land a microsecond-exact time on the millisecond before.
    A naive time is local time, as `iso` reads it."""
    if value.tzinfo is None:
        value = value.astimezone(UTC)
    return max(0, (value - _EPOCH) // _MILLISECOND)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """The one stored timestamp format: UTC, microseconds, sortable as text.

    The apply path formats several timestamps per event, so this is hand-rolled: the
    `isoformat` route cost 4-5 us a call, a third of it in `astimezone` through pydantic's
    `TzInfo`. A time already in `UTC` (the hub's own clock) is formatted directly (1.5 us);
    any other zone (partners' event times, each formatted 3-5 times while it is applied)
    goes through a small cache keyed by the instant, which is all the result depends on.
    """
    if value.tzinfo is UTC:
        return _format_utc(value)
    if value.tzinfo is None:  # naive: local time, which the process may change; not cached
        return _format_utc(value.astimezone(UTC))
    return _iso_other_zone(value)


def _format_utc(u: datetime) -> str:
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest form here
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond,
    )  # fmt: skip


@lru_cache(maxsize=4096)
def _iso_other_zone(value: datetime) -> str:
    return _format_utc(value.astimezone(UTC))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)
