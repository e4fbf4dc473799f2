"""One outbound command, and the one way to put commands in the outbox.

Every writer (the applier's milestone fan-out, the flows, customer notifications, carrier
compensations, EDI acknowledgements) builds `OutboundCommand`s and hands them to
`enqueue` inside the transaction that caused them, so a crash keeps the command with its
cause or loses both. Ids are stable (derived from the cause), and `enqueue` skips an id
already in the outbox: a replayed cause writes nothing twice.

Dead-letter replay does not come through here (outbox/dead_letters.py): it moves rows the
outbox already had, keeping their `created_at` (the dispatcher reads a `next_attempt_at`
later than `created_at` as "may have been sent before"), with one INSERT ... SELECT per
chunk instead of reading 100,000 letters into Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from intermodal.store.store import driver_executemany, write_many_pg
from intermodal.store.tables import outbox

Render = Callable[[Connection], bytes]
"""A payload built in the writing transaction (an X12 204 draws control numbers there)."""


# A plain slots dataclass: the applier builds one per command on its hot path, and a frozen
# dataclass costs about 4x to build (as engine.inbox.InboxMessage measured).
@dataclass(slots=True)
class OutboundCommand:
    """A command to the outside, before the outbox has it: due as soon as it is written."""

    command_id: str
    """Stable across replays of its cause: the receiver's idempotency key."""
    endpoint: str
    kind: str
    subject: str | None
    """The shipment key: the dispatcher keeps one subject's commands in order."""
    payload: bytes | Render
    correlation_id: str
    created_at: str


_COLUMNS = (
    "command_id",
    "endpoint",
    "kind",
    "subject",
    "payload",
    "correlation_id",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_POSTGRES_INSERT = postgresql.insert(outbox).on_conflict_do_nothing(index_elements=["command_id"])


def _sqlite_insert() -> str:
    compiled = (
        sqlite.insert(outbox)
        .on_conflict_do_nothing(index_elements=["command_id"])
        .compile(dialect=sqlite.dialect(), column_keys=list(_COLUMNS))
    )
    assert tuple(compiled.positiontup or ()) == _COLUMNS, "column order of the compiled insert"
    return str(compiled)


_SQLITE_INSERT = _sqlite_insert()


def enqueue(conn: Connection, commands: Sequence[OutboundCommand]) -> None:
    """Write the commands (pending, due now) in `conn`'s transaction; ids already there
    are skipped. Payloads still to render are rendered here, in order.

    On SQLite the insert goes straight to the driver's executemany with one tuple per
    command, as `Store.execute_many` does for the applier's other rows: SQLAlchemy's
    per-row parameter processing cost several times the insert itself on the apply path.
    On PostgreSQL it is one statement for the batch (`store.write_many_pg`).
    """
    if not commands:
        return
    for command in commands:
        if callable(command.payload):
            command.payload = command.payload(conn)
    if conn.dialect.name == "sqlite":
        driver_executemany(
            conn,
            _SQLITE_INSERT,
            [
                (
                    c.command_id,
                    c.endpoint,
                    c.kind,
                    c.subject,
                    c.payload,
                    c.correlation_id,
                    "pending",
                    0,
                    c.created_at,
                    c.created_at,
                )
                for c in commands
            ],
        )
        return
    write_many_pg(
        conn,
        _POSTGRES_INSERT,
        [
            {
                "command_id": c.command_id,
                "endpoint": c.endpoint,
                "kind": c.kind,
                "subject": c.subject,
                "payload": c.payload,
                "correlation_id": c.correlation_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": c.created_at,
                "created_at": c.created_at,
            }
            for c in commands
        ],
    )


__all__ = ["OutboundCommand", "Render", "enqueue"]
