"""Dead letters: inspect them, and replay them into the outbox with their original ids.

Replay keeps the command id (the receiver's idempotency key), resets the attempt count
and makes the command due now; each replay call is one audit entry naming the operator.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, literal, select

from intermodal.engine.ids import iso, utcnow
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.tables import dead_letters, outbox

_CHUNK = 5000


def summary(row: Any) -> dict[str, Any]:
    return {
        "command_id": row.command_id,
        "endpoint": row.endpoint,
        "kind": row.kind,
        "subject": row.subject,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "dead_at": row.dead_at,
        "correlation_id": row.correlation_id,
    }


def list_dead_letters(
    store: Store, endpoint: str | None = None, limit: int = 50, after: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of dead letters (oldest first) and the total count matching the filter."""
    where = [dead_letters.c.seq > after]
    count_where = []
    if endpoint:
        where.append(dead_letters.c.endpoint == endpoint)
        count_where.append(dead_letters.c.endpoint == endpoint)
    with store.read() as conn:
        rows = conn.execute(
            select(dead_letters).where(*where).order_by(dead_letters.c.seq).limit(limit)
        ).all()
        total = conn.execute(
            select(func.count()).select_from(dead_letters).where(*count_where)
        ).scalar_one()
    return [{"seq": r.seq, **summary(r)} for r in rows], int(total)


def get_dead_letter(store: Store, command_id: str) -> dict[str, Any] | None:
    with store.read() as conn:
        row = conn.execute(
            select(dead_letters).where(dead_letters.c.command_id == command_id)
        ).first()
    if row is None:
        return None
    payload = bytes(row.payload)
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"seq": row.seq, **summary(row), "payload": text}


def replay(
    store: Store,
    actor: str,
    command_ids: list[str] | None = None,
    everything: bool = False,
    endpoint: str | None = None,
) -> int:
    """Move dead letters back to the outbox (due now); return how many were replayed."""
    if not everything and not command_ids:
        return 0
    now = iso(utcnow())
    moved = 0
    with store.write() as conn:
        if everything:
            while batch := _move(conn, now, None, endpoint):
                moved += batch
        else:
            ids = list(dict.fromkeys(command_ids or []))
            for start in range(0, len(ids), _CHUNK):
                moved += _move(conn, now, ids[start : start + _CHUNK], endpoint)
        if moved:
            detail = {"count": moved, "all": everything, "ids": (command_ids or [])[:100]}
            append(store, conn, [AuditEntry(actor, "dead_letters.replay", endpoint, detail)])
    return moved


_COLUMNS = ["command_id", "endpoint", "kind", "subject", "payload", "correlation_id", "created_at"]


def _move(conn: Connection, now: str, ids: list[str] | None, endpoint: str | None) -> int:
    query = select(dead_letters.c.seq, dead_letters.c.command_id).order_by(dead_letters.c.seq)
    query = query.limit(_CHUNK) if ids is None else query.where(dead_letters.c.command_id.in_(ids))
    if endpoint:
        query = query.where(dead_letters.c.endpoint == endpoint)
    found = conn.execute(query).all()
    if not found:
        return 0
    seqs = [r.seq for r in found]
    # A delivered copy from an earlier replay must not block this one (command_id is unique).
    conn.execute(delete(outbox).where(outbox.c.command_id.in_([r.command_id for r in found])))
    source = select(
        *(dead_letters.c[c] for c in _COLUMNS),
        literal("pending").label("status"),
        literal(0).label("attempts"),
        literal(now).label("next_attempt_at"),
    ).where(dead_letters.c.seq.in_(seqs))
    conn.execute(
        outbox.insert().from_select([*_COLUMNS, "status", "attempts", "next_attempt_at"], source)
    )
    conn.execute(delete(dead_letters).where(dead_letters.c.seq.in_(seqs)))
    return len(seqs)
