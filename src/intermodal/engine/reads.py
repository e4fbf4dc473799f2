"""Read models: a shipment with its state, its timeline, and a receipt's fate."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from intermodal.engine.normalize import skipped_in, skipped_summary
from intermodal.store import Store
from intermodal.store.tables import events, inbox, shipments


def shipment(store: Store, key: str, full: bool = False) -> dict[str, Any] | None:
    """The shipment's current state; parties, stops and charges only when `full`."""
    with store.read() as conn:
        row = conn.execute(select(shipments).where(shipments.c.key == key)).first()
    if row is None:
        return None
    document = orjson.loads(row.document)
    shipment_data = (document.get("shipment") or {}).get("data", {})
    result = summary(row, document)
    if full:
        result["shipment"] = shipment_data
        result["pod"] = (document.get("pod") or {}).get("data")
        result["charges"] = [c["data"] for c in (document.get("charges") or {}).values()]
    return result


def summary(row: Any, document: dict[str, Any]) -> dict[str, Any]:
    """A shipment's state at a glance, from its row and its parsed document: what the API's
    `GET /v1/shipments/{key}` and the control tower's shipment page both show."""
    shipment_data = (document.get("shipment") or {}).get("data") or {}
    return {
        "key": row.key,
        "state": row.state,
        "state_at": row.state_at,
        "milestones": {
            "main": row.main_milestone,
            "side": row.side_milestone,
            "terminal": row.terminal_milestone,
        },
        "references": shipment_data.get("references", {}),
        "counts": {
            "events": row.events_count,
            "late": row.late_count,
            "duplicate": row.duplicate_count,
            "violation": row.violation_count,
        },
        "proof_of_delivery": bool(document.get("pod")),
        "customs": ((document.get("customs") or {}).get("data") or {}).get("state"),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def timeline(store: Store, key: str) -> list[dict[str, Any]] | None:
    """Every event about the shipment in the order things happened, flags included."""
    with store.read() as conn:
        exists = conn.execute(select(shipments.c.key).where(shipments.c.key == key)).first()
        if exists is None:
            return None
        rows = conn.execute(
            select(events)
            .where(events.c.subject == key)
            .order_by(events.c.occurred_at, events.c.seq)
        ).all()
    return [
        {
            "id": r.event_id,
            "type": r.type,
            "milestone": r.milestone,
            "occurred_at": r.occurred_at,
            "source": r.source,
            "partner": r.partner,
            "recorded_at": r.recorded_at,
            "receipt_id": r.receipt_id,
            "correlation_id": r.correlation_id,
            "outcome": r.outcome,
            "late": r.outcome == "late",
            "duplicate": r.outcome == "duplicate",
            "violation": r.outcome == "violation",
        }
        for r in rows
    ]


def receipt(store: Store, receipt_id: str) -> dict[str, Any] | None:
    """What became of a received message: its status, each event's outcome, and the items
    it was applied without (`skipped`: path and reason each; `error` then says how many).
    """
    with store.read() as conn:
        row = conn.execute(
            select(
                inbox.c.receipt_id,
                inbox.c.partner,
                inbox.c.message_id,
                inbox.c.channel,
                inbox.c.received_at,
                inbox.c.status,
                inbox.c.processed_at,
                inbox.c.error,
                inbox.c.correlation_id,
            ).where(inbox.c.receipt_id == receipt_id)
        ).first()
        if row is None:
            return None
        outcomes = conn.execute(
            select(events.c.event_id, events.c.subject, events.c.outcome)
            .where(events.c.receipt_id == receipt_id)
            .order_by(events.c.seq)
        ).all()
    found = row._asdict()
    recorded = skipped_in(found["error"]) if found["status"] == "applied" else None
    skipped: list[dict[str, str]] = []
    if recorded is not None:
        items, count = recorded
        found["error"] = skipped_summary(items, count)
        skipped = [{"path": i.path, "reason": i.reason} for i in items]
    return {
        **found,
        "events": [
            {"id": e.event_id, "subject": e.subject, "outcome": e.outcome} for e in outcomes
        ],
        "skipped": skipped,
    }
