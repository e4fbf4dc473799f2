"""Customer notifications: which subscriber endpoint gets which shipment event.

A subscriber is an endpoint (`endpoints.<name>` in the configuration) with filters:

- `events`: the kinds of event it wants (default: milestones only, as before filters existed):
  `milestone`, `pod.received`, `charge.recorded`, `customs.updated`, `case.opened`,
  `case.closed`, `eta.changed` (an arrival time that moved, docs/visibility.md);
- `milestones`: which milestones, when it wants milestones;
- `subjects`: shell-style patterns on the shipment key (`SHP-*`);
- `customers`: the customer's reference (or name) on the shipment (`parties` with role
  `customer` or `bill_to`).

Each notification is an outbox command (a CloudEvent, signed on delivery by the webhook sink
with every active secret of the endpoint) whose id is stable across replays, so a re-applied
event never notifies twice. Pure functions: the applier calls them inside its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal

import orjson
from sqlalchemy import Connection, select

from intermodal.engine.ids import stable_id
from intermodal.outbox.command import OutboundCommand
from intermodal.store.store import rows_in
from intermodal.store.tables import cases

if TYPE_CHECKING:
    from intermodal.config import Endpoint

CLOUDEVENT_TYPES: dict[str, str] = {
    "milestone": "intermodal.shipment.milestone",
    "pod.received": "intermodal.pod.received",
    "charge.recorded": "intermodal.charge.recorded",
    "customs.updated": "intermodal.customs.updated",
    "case.opened": "intermodal.case.opened",
    "case.closed": "intermodal.case.closed",
    "eta.changed": "intermodal.shipment.eta",  # foresight/eta_refresh.py
}
"""Subscribable event -> the CloudEvent `type` the subscriber receives."""
NOTIFY_EVENTS = tuple(CLOUDEVENT_TYPES)
NotifyEvent = Literal[
    "milestone",
    "pod.received",
    "charge.recorded",
    "customs.updated",
    "case.opened",
    "case.closed",
    "eta.changed",
]
DEFAULT_EVENTS = frozenset({"milestone"})


def customers_of(document: dict[str, Any]) -> set[str]:
    """The references and names of a shipment's customer and bill-to parties."""
    shipment = document.get("shipment")
    data = shipment.get("data") if isinstance(shipment, dict) else None
    parties = data.get("parties") if isinstance(data, dict) else None
    found: set[str] = set()
    for party in parties if isinstance(parties, list) else []:
        if isinstance(party, dict) and party.get("role") in ("customer", "bill_to"):
            for field in ("reference", "name"):
                if isinstance(party.get(field), str):
                    found.add(party[field])
    return found


def wants(
    endpoint: Endpoint,
    event: str,
    subject: str,
    document: dict[str, Any],
    milestone: str | None = None,
) -> bool:
    """Whether `endpoint` subscribes to this event of this shipment."""
    events = endpoint.events if endpoint.events is not None else DEFAULT_EVENTS
    if event not in events:
        return False
    if (
        event == "milestone"
        and endpoint.milestones is not None
        and (milestone not in endpoint.milestones)
    ):
        return False
    if endpoint.subjects is not None and not any(
        fnmatchcase(subject, pattern) for pattern in endpoint.subjects
    ):
        return False
    return endpoint.customers is None or bool(customers_of(document) & endpoint.customers)


def notification(
    endpoint: str,
    event: str,
    subject: str,
    data: dict[str, Any],
    cause: str,
    correlation_id: str,
    now: str,
    **extensions: str,
) -> OutboundCommand:
    """The outbox command of one notification; `cause` (an event or case id) makes it unique."""
    command_id = stable_id("cmd", endpoint, event, cause)
    payload = {
        "specversion": "1.0",
        "id": command_id,
        "source": "intermodal",
        "type": CLOUDEVENT_TYPES[event],
        "subject": subject,
        "time": now,
        "datacontenttype": "application/json",
        "data": data,
        "causationid": cause,
        **extensions,
    }
    return OutboundCommand(
        command_id, endpoint, "webhook", subject, orjson.dumps(payload), correlation_id, now
    )


def document_notifications(
    endpoints: Iterable[Endpoint],
    event: str,
    subject: str,
    document: dict[str, Any],
    data: dict[str, Any],
    cause: str,
    partner: str,
    correlation_id: str,
    now: str,
) -> list[OutboundCommand]:
    """Notifications of a proof of delivery, charge or customs update to its subscribers."""
    return [
        notification(e.name, event, subject, data, cause, correlation_id, now, assertedby=partner)
        for e in endpoints
        if wants(e, event, subject, document)
    ]


def case_notifications(
    endpoints: Iterable[Endpoint],
    opened: Iterable[dict[str, Any]],
    documents: dict[str, dict[str, Any]],
    now: str,
    event: str = "case.opened",
) -> list[OutboundCommand]:
    """Notifications of cases (exceptions, SLA breaches, disputes) opened (or closed) in
    this batch."""
    rows: list[OutboundCommand] = []
    targets = list(endpoints)
    for case in opened:
        subject = str(case["subject"])
        document = documents.get(subject, {})
        data = {k: case[k] for k in ("case_id", "kind", "team", "reason", "opened_at")}
        if event == "case.closed":
            data["closed_at"] = now
        for e in targets:
            if wants(e, event, subject, document):
                case_id = str(case["case_id"])
                rows.append(notification(e.name, event, subject, data, case_id, case_id, now))
    return rows


def closed_case_notifications(
    conn: Connection,
    endpoints: Iterable[Endpoint],
    closed: list[str],
    opened: list[dict[str, Any]],
    documents: dict[str, dict[str, Any]],
    now: str,
) -> list[OutboundCommand]:
    """Notifications of the cases this batch closes; the cases are read only when some
    subscriber wants to hear of it (most batches close nothing)."""
    targets = [e for e in endpoints if e.events is not None and "case.closed" in e.events]
    if not closed or not targets:
        return []
    columns = ("case_id", "subject", "kind", "team", "reason", "opened_at")
    found = {c["case_id"]: c for c in opened if c["case_id"] in closed}
    missing = [c for c in closed if c not in found]
    if missing:
        query = select(*(cases.c[name] for name in columns)).where(cases.c.status == "open")
        for row in rows_in(conn, query, cases.c.case_id, missing):
            found[row.case_id] = dict(row._mapping)
    ordered = [found[c] for c in closed if c in found]
    return case_notifications(targets, ordered, documents, now, event="case.closed")
