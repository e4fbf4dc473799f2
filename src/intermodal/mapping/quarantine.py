"""Quarantine: inbox messages the normalize step rejected, kept raw, replayed after a fix.

A rejected message is an inbox row with status `rejected` and the reason in `error`
(written by the applier). A message applied without some of its items (a carrier's scans,
one of which the mapping cannot read) is quarantined too: status `applied`, and `error`
records the skipped items (engine/normalize.py, `skipped_record`); here it is listed with
a one-line summary as its `error` and the items under `skipped`. Replaying sets either
back to `pending` and unrouted: the running hub's applier picks it up on its next wake
(within half a second) and maps it with the mapping as it is now; the events a partly
applied message had already applied come out as duplicates by their ids. Each replay is
an audit entry naming who replayed what.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update

from intermodal.engine.normalize import skipped_in, skipped_summary
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.tables import inbox

_QUARANTINED = or_(
    inbox.c.status == "rejected",
    and_(inbox.c.status == "applied", inbox.c.error.is_not(None)),
)

_SUMMARY = (
    inbox.c.seq,
    inbox.c.receipt_id,
    inbox.c.partner,
    inbox.c.message_id,
    inbox.c.channel,
    inbox.c.received_at,
    inbox.c.processed_at,
    inbox.c.status,
    inbox.c.error,
)


def _described(row: Any) -> dict[str, Any]:
    """A row as the lists show it: a partly applied message's record as a summary line
    (`error`) and its skipped items (`skipped`, each with path and reason)."""
    found = dict(row._mapping)
    recorded = skipped_in(found["error"]) if found["status"] == "applied" else None
    found["skipped"] = []
    if recorded is not None:
        items, count = recorded
        found["error"] = skipped_summary(items, count)
        found["skipped"] = [{"path": i.path, "reason": i.reason} for i in items]
    return found


def list_quarantined(
    store: Store, partner: str | None = None, limit: int = 50, after: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Rejected and partly applied messages in arrival order (after inbox seq `after`),
    and how many there are."""
    where = [_QUARANTINED]
    if partner is not None:
        where.append(inbox.c.partner == partner)
    with store.read() as conn:
        rows = conn.execute(
            select(*_SUMMARY).where(*where, inbox.c.seq > after).order_by(inbox.c.seq).limit(limit)
        ).all()
        total = conn.execute(select(func.count()).select_from(inbox).where(*where)).scalar_one()
    return [_described(r) for r in rows], int(total)


def get_quarantined(store: Store, receipt_id: str) -> dict[str, Any] | None:
    """One rejected or partly applied message with its raw body (as text when it decodes,
    else hex)."""
    with store.read() as conn:
        row = conn.execute(
            select(*_SUMMARY, inbox.c.content_type, inbox.c.body).where(
                inbox.c.receipt_id == receipt_id, _QUARANTINED
            )
        ).first()
    if row is None:
        return None
    found = _described(row)
    raw = bytes(found.pop("body"))
    try:
        found["body"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        found["body_hex"] = raw.hex()
    return found


def replay(
    store: Store,
    actor: str,
    receipt_ids: list[str] | None = None,
    all_: bool = False,
    partner: str | None = None,
) -> int:
    """Set quarantined messages back to pending (by receipt id, or all, optionally of one
    partner), in one transaction with the audit entry that records it.

    The partition goes too: a rejected message was routed by its receipt id, and a fixed
    mapping may find shipments in a message it could not read before, so it is routed
    again (engine/partitions.py)."""
    where = [_QUARANTINED]
    if partner is not None:
        where.append(inbox.c.partner == partner)
    if not all_:
        where.append(inbox.c.receipt_id.in_(receipt_ids or []))
    with store.write() as conn:
        chosen = conn.execute(select(inbox.c.seq, inbox.c.receipt_id).where(*where)).all()
        if not chosen:
            return 0
        seqs = [r.seq for r in chosen]
        for start in range(0, len(seqs), 500):
            conn.execute(
                update(inbox)
                .where(inbox.c.seq.in_(seqs[start : start + 500]))
                .values(status="pending", processed_at=None, error=None, partition=None)
            )
        append(
            store,
            conn,
            [
                AuditEntry(
                    actor,
                    "quarantine.replay",
                    partner,
                    {"receipt_ids": [r.receipt_id for r in chosen][:1000], "count": len(chosen)},
                )
            ],
        )
    return len(chosen)
