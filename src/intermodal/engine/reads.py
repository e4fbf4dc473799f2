"""Read models: a shipment with its state, its timeline, and a receipt's fate, each within
the reader's `Boundary`.

A partner sees the shipments it took part in: it sent an event about the shipment, or an
endpoint of the same name is subscribed to it by its `subjects` and `customers` filters
(the shipments the hub notifies it of). A customer portal's token sees its customers'
shipments. A shipment outside the boundary reads as absent, so its existence does not
leak. `visible` is the rule, a pure function; the queries only fetch what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Connection, String, select

from intermodal.engine.normalize import skipped_in, skipped_summary
from intermodal.store import Store
from intermodal.store.tables import events, inbox, shipments
from intermodal.workflows.notifications import customers_of

if TYPE_CHECKING:
    from intermodal.config import Endpoint

KEY_LENGTH = cast(String, shipments.c.key.type).length
RECEIPT_LENGTH = cast(String, inbox.c.receipt_id.type).length


@dataclass(frozen=True)
class Boundary:
    """Whose freight a partner's token may read (the admin and operators have none)."""

    partner: str
    customers: frozenset[str] | None = None
    """A customer portal's customers: then only their shipments, whoever reported them."""
    subscription: Endpoint | None = None
    """The partner's own endpoint (same name) when it takes notifications, not flow
    commands: its `subjects` and `customers` filters let shipments through."""


def visible(boundary: Boundary, key: str, document: dict[str, Any], reported: bool) -> bool:
    """Whether a shipment is inside `boundary`; `reported`: the partner sent an event for it."""
    if boundary.customers is not None:
        return bool(customers_of(document) & boundary.customers)
    return reported or subscribed(boundary.subscription, key, document)


def subscribed(endpoint: Endpoint | None, key: str, document: dict[str, Any]) -> bool:
    """Whether the hub notifies `endpoint` about this shipment at all (its `subjects` and
    `customers` filters, as workflows/notifications.py applies them)."""
    if endpoint is None:
        return False
    if endpoint.subjects is not None and not any(
        fnmatchcase(key, pattern) for pattern in endpoint.subjects
    ):
        return False
    return endpoint.customers is None or bool(customers_of(document) & endpoint.customers)


def storable(value: str, length: int | None) -> bool:
    """Whether a store could hold `value` as a key: longer ones, or ones with a NUL (which
    PostgreSQL refuses in text), name nothing and need no query."""
    return (length is None or len(value) <= length) and "\x00" not in value


def _reported(conn: Connection, partner: str, key: str) -> bool:
    found = conn.execute(
        select(events.c.seq).where(events.c.subject == key, events.c.partner == partner).limit(1)
    ).first()
    return found is not None


def _document(
    conn: Connection, key: str, boundary: Boundary | None
) -> tuple[Any, dict[str, Any]] | None:
    """The shipment's row and parsed document, or None if absent or outside `boundary`."""
    if not storable(key, KEY_LENGTH):
        return None
    row = conn.execute(select(shipments).where(shipments.c.key == key)).first()
    if row is None:
        return None
    document: dict[str, Any] = orjson.loads(row.document)
    if boundary is None:
        return row, document
    reported = boundary.customers is None and _reported(conn, boundary.partner, key)
    return (row, document) if visible(boundary, key, document, reported) else None


def shipment(
    store: Store, key: str, full: bool = False, boundary: Boundary | None = None
) -> dict[str, Any] | None:
    """The shipment's current state; parties, stops and charges only when `full`. None
    when there is no such shipment or it lies outside `boundary` (None: no limit)."""
    with store.read() as conn:
        found = _document(conn, key, boundary)
    if found is None:
        return None
    row, document = found
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


def timeline(
    store: Store, key: str, boundary: Boundary | None = None
) -> list[dict[str, Any]] | None:
    """Every event about the shipment in the order things happened, flags included; None
    like `shipment`. Within a boundary, other partners' receipt and correlation ids are
    left out: they are handles into those partners' own messages."""
    with store.read() as conn:
        if _document(conn, key, boundary) is None:
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
            "receipt_id": r.receipt_id if _own(boundary, r.partner) else None,
            "correlation_id": r.correlation_id if _own(boundary, r.partner) else None,
            "outcome": r.outcome,
            "late": r.outcome == "late",
            "duplicate": r.outcome == "duplicate",
            "violation": r.outcome == "violation",
        }
        for r in rows
    ]


def _own(boundary: Boundary | None, partner: str) -> bool:
    return boundary is None or boundary.partner == partner


def receipt(store: Store, receipt_id: str, partner: str | None = None) -> dict[str, Any] | None:
    """What became of a received message: its status, each event's outcome, and the items
    it was applied without (`skipped`: path and reason each; `error` then says how many).
    With `partner`, only a message that partner sent; None otherwise, as for no message.
    """
    if not storable(receipt_id, RECEIPT_LENGTH):
        return None
    mine = [inbox.c.partner == partner] if partner is not None else []
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
            ).where(inbox.c.receipt_id == receipt_id, *mine)
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
