"""Retention: delivered outbox rows are deleted once they are older than a configured age.

A delivered command has done its work: the receiver has it (and deduplicates by its id),
and the shipment's timeline and the audit chain keep what happened. Without this the
outbox grew by a row per command for ever (a known limit in docs/operations.md until
2026-11-30). Pending commands and dead letters are never touched, only what was
delivered before the cut-off. Customer invoices are kept whatever their age
(`KEPT_KINDS`): reconciliation and the control tower read a delivered
`intermodal.odoo.invoice.create` as the record that a shipment was invoiced, so pruning
one would list a long-billed shipment as delivered and not invoiced.

Each chunk of rows is its own short transaction with its own audit entry, as dead-letter
replay does: on SQLite the write lock is the database's, and ingest's group commits wait
behind whoever holds it (docs/operations.md, "Known limits").

Rows are walked in `seq` order (the primary key), and the walk stops at the first chunk
holding a row created after the cut-off: every later row was inserted after that one was
created, hence delivered after the cut-off (a replayed dead letter keeps its older
`created_at`, but not an older place in the walk). No index is added for this; every
delivery stays as cheap as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from intermodal.engine.ids import iso, utcnow
from intermodal.outbox.kinds import INVOICE_COMMAND
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.tables import outbox

_CHUNK = 5000
_DELETE_CHUNK = 500  # ids per DELETE ... IN (...): well under SQLite's parameter limit
KEPT_KINDS = frozenset({INVOICE_COMMAND})


def prune_delivered(
    store: Store,
    keep: timedelta,
    actor: str,
    now: datetime | None = None,
    chunk: int = _CHUNK,
) -> int:
    """Delete outbox rows delivered more than `keep` ago; return how many were deleted."""
    cutoff = iso((now or utcnow()) - keep)
    after, pruned = 0, 0
    while True:
        with store.write() as conn:
            rows = conn.execute(
                select(
                    outbox.c.seq,
                    outbox.c.kind,
                    outbox.c.status,
                    outbox.c.delivered_at,
                    outbox.c.created_at,
                )
                .where(outbox.c.seq > after)
                .order_by(outbox.c.seq)
                .limit(chunk)
            ).all()
            if not rows:
                return pruned
            doomed = [
                r.seq
                for r in rows
                if r.status == "delivered"
                and (r.delivered_at or cutoff) < cutoff
                and r.kind not in KEPT_KINDS
            ]
            for start in range(0, len(doomed), _DELETE_CHUNK):
                conn.execute(
                    delete(outbox).where(outbox.c.seq.in_(doomed[start : start + _DELETE_CHUNK]))
                )
            if doomed:
                detail = {"count": len(doomed), "delivered_before": cutoff}
                append(store, conn, [AuditEntry(actor, "outbox.pruned", None, detail)])
        pruned += len(doomed)
        after = rows[-1].seq
        if len(rows) < chunk or any(r.created_at >= cutoff for r in rows):
            return pruned


__all__ = ["KEPT_KINDS", "prune_delivered"]
