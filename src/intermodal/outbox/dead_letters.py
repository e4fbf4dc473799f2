"""Dead letters: inspect them, and replay them into the outbox with their original ids.

Replay keeps the command id (the receiver's idempotency key), resets the attempt count
and makes the command due now, ahead of the commands of its shipment that it held back;
each replay writes an audit entry naming the operator per chunk of 5,000 it moves.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, func, literal, select, tuple_

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
    """Move one chunk: the given ids, or (replaying all) the oldest `_CHUNK` letters.

    The oldest chunk is named by a range, every letter up to its last `seq` (of this
    endpoint), not by a list of 5,000 ids: building that list three times per chunk in
    SQLAlchemy took 1.5 s of a 100,000-letter replay (BENCHMARKS.md, W4).
    """
    chosen: list[Any] = [dead_letters.c.endpoint == endpoint] if endpoint else []
    if ids is None:
        last = conn.execute(
            select(dead_letters.c.seq)
            .where(*chosen)
            .order_by(dead_letters.c.seq)
            .offset(_CHUNK - 1)
            .limit(1)
        ).scalar()
        if last is not None:  # else fewer than a chunk remain: all of them
            chosen.append(dead_letters.c.seq <= last)
    else:
        chosen.append(dead_letters.c.command_id.in_(ids))
    # A dead letter held its shipment's later commands for its endpoint (the dispatcher's
    # claim skips them): they go back behind it, re-appended after the replayed letters.
    # Pending rows of the pair created no later than its oldest letter here (a letter an
    # earlier chunk already replayed) stay ahead of it.
    behind = _take_held(conn, _oldest_letter_by_pair(conn, chosen))
    # A delivered copy from an earlier replay must not block this one (command_id is unique).
    letters = select(dead_letters.c.command_id).where(*chosen)
    conn.execute(delete(outbox).where(outbox.c.command_id.in_(letters)))
    source = select(
        *(dead_letters.c[c] for c in _COLUMNS),
        literal("pending").label("status"),
        literal(0).label("attempts"),
        literal(now).label("next_attempt_at"),
    ).where(*chosen)
    if ids is None:
        source = source.order_by(dead_letters.c.seq)  # replayed commands keep their order
    conn.execute(
        outbox.insert().from_select([*_COLUMNS, "status", "attempts", "next_attempt_at"], source)
    )
    if behind:
        conn.execute(outbox.insert(), behind)
    return int(conn.execute(delete(dead_letters).where(*chosen)).rowcount)


def _oldest_letter_by_pair(conn: Connection, chosen: list[Any]) -> dict[tuple[str, str], str]:
    """The creation time of the oldest chosen letter of each (endpoint, subject)."""
    rows = conn.execute(
        select(dead_letters.c.endpoint, dead_letters.c.subject, func.min(dead_letters.c.created_at))
        .where(*chosen, dead_letters.c.subject.is_not(None))
        .group_by(dead_letters.c.endpoint, dead_letters.c.subject)
    )
    return {(e, s): at for e, s, at in rows}


def _take_held(conn: Connection, oldest: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    """Delete and return (in order, without their seq) the pending commands of the chosen
    letters' (endpoint, subject) pairs created after the pair's oldest letter. Re-inserted
    after the letters, they get new, higher seqs; SQLite reuses a deleted row's seq, so a
    letter cannot simply go back to its old one."""
    pairs = sorted(oldest)
    rows: list[Any] = []
    for i in range(0, len(pairs), 500):
        rows.extend(
            conn.execute(
                select(outbox).where(
                    tuple_(outbox.c.endpoint, outbox.c.subject).in_(pairs[i : i + 500]),
                    outbox.c.status == "pending",
                )
            )
        )
    rows = [r for r in rows if r.created_at > oldest[(r.endpoint, r.subject)]]
    rows.sort(key=lambda r: r.seq)
    seqs = [r.seq for r in rows]
    for i in range(0, len(seqs), 500):
        conn.execute(delete(outbox).where(outbox.c.seq.in_(seqs[i : i + 500])))
    keep = [c.key for c in outbox.c if c.key != "seq"]
    return [{c: getattr(r, c) for c in keep} for r in rows]
