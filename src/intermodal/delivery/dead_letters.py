"""Dead letters: inspect them, and replay them into the outbox with their original ids.

Replay keeps the command id (the receiver's idempotency key), resets the attempt count
and makes the command due now; each replay writes an audit entry naming the operator per
chunk of 5,000 it moves.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
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
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Move dead letters back to the outbox (due now); return how many were replayed.

    Each chunk of 5,000 is its own transaction, with its own audit entry, and
    `on_progress(moved so far)` is called after each: the hub wakes its dispatcher there,
    so the first chunk is on the wire while the rest move. In one transaction, 100,000
    took 2.3 s to move before the first was sent (BENCHMARKS.md, W4). A replay cut short
    has moved whole chunks; running it again moves the rest. Chunks go in dead-letter
    order, so replayed commands keep their order in the outbox.
    """
    if not everything and not command_ids:
        return 0
    now = iso(utcnow())
    ids = list(dict.fromkeys(command_ids or []))
    moved = 0
    for start in itertools.count(0, _CHUNK):
        chunk = None if everything else ids[start : start + _CHUNK]
        if chunk == []:
            break
        with store.write() as conn:
            count = _move(conn, now, chunk, endpoint)
            if count:
                detail = {"count": count, "all": everything, "ids": (chunk or [])[:100]}
                append(store, conn, [AuditEntry(actor, "dead_letters.replay", endpoint, detail)])
        moved += count
        if count and on_progress is not None:
            on_progress(moved)
        if everything and count < _CHUNK:
            break
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
