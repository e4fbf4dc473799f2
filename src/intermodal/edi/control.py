"""Control numbers for outbound interchanges, kept in the hub's store.

A partner rejects an interchange whose ISA13 (or UNB05) it has already seen, and matches
our 997s and CONTRLs to its own by GS06 and ST02, so the numbers we write must increase
per partner across restarts and across hub processes. They therefore live in the store,
in one row per (partner, kind), bumped with a single atomic upsert:

    INSERT ... ON CONFLICT (partner, kind) DO UPDATE SET last = last + 1 RETURNING last

which both SQLite (3.35+) and PostgreSQL run as one statement, so two processes never get
the same number (on SQLite the write transaction is BEGIN IMMEDIATE; on PostgreSQL the
conflicting row is locked by the upsert itself). Passing `conn` lets the caller take the
number in the same transaction that writes the outbox row, so a rolled-back send gives
its number back (a gap would be harmless anyway; a repeat is not).

The table, `edi_control_numbers`, is part of the store's schema (migration 0003).
"""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy import Connection, case
from sqlalchemy.dialects import postgresql, sqlite

from intermodal.store import Store
from intermodal.store.tables import edi_control_numbers

# Largest value each kind may take before it wraps to 1: ISA13 and UNB05 are 9 digits
# (UNB05 may be 14 characters, but partners' systems commonly hold 9), GS06 likewise.
LIMITS: dict[str, int] = {"ISA": 999_999_999, "GS": 999_999_999, "UNB": 999_999_999}
DEFAULT_LIMIT = 999_999_999


class ControlNumberSource(Protocol):
    """Whatever hands out the next control number for (partner, kind)."""

    def next(self, partner: str, kind: str) -> int: ...


class ControlNumbers:
    """Control numbers stored in the hub's database (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def next(self, partner: str, kind: str, conn: Connection | None = None) -> int:
        """The next number for (partner, kind): 1 the first time, then +1, wrapping to 1."""
        limit = LIMITS.get(kind, DEFAULT_LIMIT)
        table = edi_control_numbers
        insert = (postgresql if self.store.dialect == "postgresql" else sqlite).insert(table)
        statement = (
            insert.values(partner=partner, kind=kind, last=1)
            .on_conflict_do_update(
                index_elements=[table.c.partner, table.c.kind],
                set_={"last": case((table.c.last >= limit, 1), else_=table.c.last + 1)},
            )
            .returning(table.c.last)
        )
        if conn is not None:
            return int(conn.execute(statement).scalar_one())
        with self.store.write() as own:
            return int(own.execute(statement).scalar_one())

    def peek(self, partner: str, kind: str) -> int:
        """The last number handed out (0 if none): for inspection and tests."""
        table = edi_control_numbers
        with self.store.read() as conn:
            value = conn.execute(
                table.select()
                .with_only_columns(table.c.last)
                .where(table.c.partner == partner, table.c.kind == kind)
            ).scalar_one_or_none()
        return int(value or 0)


class MemoryControlNumbers:
    """Control numbers in memory: for tests, `edi` tooling and one-off documents."""

    def __init__(self, start: dict[tuple[str, str], int] | None = None) -> None:
        self._last: dict[tuple[str, str], int] = dict(start or {})
        self._lock = threading.Lock()

    def next(self, partner: str, kind: str) -> int:
        with self._lock:
            last = self._last.get((partner, kind), 0)
            value = 1 if last >= LIMITS.get(kind, DEFAULT_LIMIT) else last + 1
            self._last[(partner, kind)] = value
            return value


__all__ = [
    "ControlNumberSource",
    "ControlNumbers",
    "MemoryControlNumbers",
    "edi_control_numbers",
]
