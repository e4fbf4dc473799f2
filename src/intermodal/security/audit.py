"""A tamper-evident audit chain: each row hashes its content and the previous row's hash.

Anyone who edits, inserts or deletes a row after the fact breaks the chain from that row
on; `verify` walks it and names the first row that does not fit. Appends happen inside
the transaction of the change they record, so the chain and the state cannot disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select, text

from intermodal.engine.ids import iso, utcnow
from intermodal.store import Store
from intermodal.store.tables import audit

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 7_201_512  # advisory lock id: appenders from several processes queue here
_INSERT = audit.insert()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]


def row_hash(
    seq: int, at: str, actor: str, action: str, subject: str | None, detail: str, prev: str
) -> str:
    material = orjson.dumps([seq, at, actor, action, subject, detail, prev])
    return hashlib.sha256(material).hexdigest()


def append(store: Store, conn: Connection, entries: list[AuditEntry]) -> None:
    """Append entries at the chain's end, in the caller's transaction."""
    if not entries:
        return
    if store.dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_AUDIT_LOCK})
    tail = conn.execute(
        select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (tail.seq, tail.hash) if tail else (0, GENESIS)
    at = iso(utcnow())
    rows = []
    for entry in entries:
        seq += 1
        detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode()
        digest = row_hash(seq, at, entry.actor, entry.action, entry.subject, detail, prev)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": entry.actor,
                "action": entry.action,
                "subject": entry.subject,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    store.execute_many(conn, _INSERT, rows)  # plain values: straight to the driver on SQLite


@dataclass(frozen=True, slots=True)
class VerifyReport:
    rows: int
    ok: bool
    problem: str | None = None
    seq: int | None = None


def _rows(store: Store, batch: int) -> Iterator[Any]:
    last = 0
    with store.read() as conn:
        while True:
            rows = conn.execute(
                select(audit).where(audit.c.seq > last).order_by(audit.c.seq).limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq


def verify(store: Store, batch: int = 10_000) -> VerifyReport:
    """Walk the chain in order and name the first row that was edited, inserted or deleted.

    - edited: a row's hash no longer matches its content;
    - inserted: a row does not link to its predecessor, but its successor does;
    - deleted: a row does not link to its predecessor, nor does its successor (or the
      numbering skips): something between them is gone, or was edited and re-hashed.
    """
    prev_hash, prev_seq, count = GENESIS, 0, 0
    suspect: Any = None  # a row that did not link; its successor decides what happened
    for r in _rows(store, batch):
        count += 1
        if row_hash(r.seq, r.at, r.actor, r.action, r.subject, r.detail, r.prev_hash) != r.hash:
            return VerifyReport(
                count, False, f"row {r.seq} was edited: its hash does not match its content", r.seq
            )
        if suspect is not None:
            if r.prev_hash == prev_hash:
                return VerifyReport(
                    count, False, f"row {suspect.seq} was inserted into the chain", suspect.seq
                )
            return VerifyReport(
                count,
                False,
                f"the chain breaks before row {suspect.seq}: rows after {prev_seq} were deleted,"
                " or one was edited and re-hashed",
                suspect.seq,
            )
        if r.seq != prev_seq + 1:
            return VerifyReport(
                count, False, f"rows {prev_seq + 1}..{r.seq - 1} were deleted", r.seq
            )
        if r.prev_hash != prev_hash:
            suspect = r
            continue
        prev_hash, prev_seq = r.hash, r.seq
    if suspect is not None:
        return VerifyReport(
            count,
            False,
            f"the last row {suspect.seq} does not link to the chain:"
            " it was inserted, or rows before it were deleted",
            suspect.seq,
        )
    return VerifyReport(count, True)
