"""Events, configurations and a store-backed harness for the workflow tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import select

from intermodal.config import Settings
from intermodal.engine.applier import Applier
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.store import Store
from intermodal.store.tables import cases, outbox, shipments, timers
from tests.conftest import new_secret

_SEQ = itertools.count(1)
DAY = "2026-11-23"

CUSTOMER = {"role": "customer", "name": "Acme Retail", "reference": "ACME-1"}
STOPS = [
    {"sequence": 1, "kind": "pickup", "address": {"city": "Chicago", "country": "US"}},
    {"sequence": 2, "kind": "delivery", "address": {"city": "Boston", "country": "US"}},
]


def event(type_: str, subject: str, data: dict[str, Any], at: str, eid: str | None = None,
          source: str = "test") -> dict[str, Any]:  # fmt: skip
    return {
        "specversion": "1.0",
        "id": eid or f"evt-{next(_SEQ)}",
        "source": source,
        "type": f"intermodal.{type_}",
        "subject": subject,
        "time": at,
        "data": data,
    }


def at(hour: int, minute: int = 0) -> str:
    return f"{DAY}T{hour:02d}:{minute:02d}:00Z"


def shipment(key: str, when: str = at(8), **extra: Any) -> dict[str, Any]:
    data = {"key": key, "parties": [CUSTOMER], "stops": STOPS,
            "references": {"odoo_sale_order": f"S-{key}"}, **extra}  # fmt: skip
    return event("shipment.upserted", key, data, when)


def milestone(
    key: str, name: str, when: str, eid: str | None = None, **data: Any
) -> dict[str, Any]:
    return event(
        "shipment.milestone", key, {"milestone": name, "occurred_at": when, **data}, when, eid
    )


def charge(key: str, code: str, amount: str, status: str, when: str, kind: str = "freight",
           currency: str = "USD") -> dict[str, Any]:  # fmt: skip
    data = {"code": code, "kind": kind, "status": status,
            "amount": {"amount": amount, "currency": currency}}  # fmt: skip
    return event("charge.recorded", key, data, when)


def pod(key: str, when: str) -> dict[str, Any]:
    return event("pod.received", key, {"delivered_at": when, "signed_by": "J. Doe"}, when)


def customs(key: str, state: str, when: str, reason: str | None = None) -> dict[str, Any]:
    data = {"state": state, "occurred_at": when, **({"reason": reason} if reason else {})}
    return event("customs.updated", key, data, when)


def flow_config(make_settings: Callable[..., Settings], db_url: str, **workflows: Any) -> Settings:
    """Partners carrier/tms/odoo, webhook endpoints for every role, a `workflows` section."""
    config: dict[str, Any] = {
        "hub": {"database": db_url},
        "partners": {
            "carrier": {"kind": "carrier", "webhook_secrets": ["env:CARRIER_S"]},
            "tms": {"kind": "tms", "webhook_secrets": ["env:TMS_S"]},
            "odoo": {"kind": "odoo", "webhook_secrets": ["env:ODOO_S"]},
        },
        "endpoints": {
            "odoo-out": {
                "kind": "odoo",
                "url": "http://127.0.0.1:9/odoo",
                "options": {"database": "x", "api_key": "env:ODOO_KEY"},
            },
            "tms-out": {"url": "http://127.0.0.1:9/tms"},
            "portal": {"url": "http://127.0.0.1:9/portal"},
        },
        "workflows": {
            "roles": {"tms": "tms-out", "notify": "portal"},
            "service_levels": {"express": {"expected": {"delivered": "2h"}}},
            **workflows,
        },
    }
    return make_settings(
        config, env={"CARRIER_S": new_secret(), "TMS_S": new_secret(), "ODOO_S": new_secret()}
    )


class Harness:
    """Store messages as partners would and apply them, then look at what the flows did."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.applier = Applier(store, settings)

    def send(self, partner: str, *events: dict[str, Any], message_id: str | None = None) -> None:
        body = orjson.dumps(list(events))
        mid = message_id or f"msg-{next(_SEQ)}"
        store_messages(
            self.store,
            [InboxMessage(partner, mid, "webhook", "application/json", body, f"corr-{mid}")],
        )
        while self.applier.run_once().messages:
            pass

    def apply(self) -> None:
        while self.applier.run_once().messages:
            pass

    def commands(self, kind: str | None = None, subject: str | None = None) -> list[Any]:
        query = select(outbox).order_by(outbox.c.seq)
        if kind is not None:
            query = query.where(outbox.c.kind == kind)
        if subject is not None:
            query = query.where(outbox.c.subject == subject)
        with self.store.read() as conn:
            return list(conn.execute(query).all())

    def payloads(self, kind: str, subject: str | None = None) -> list[dict[str, Any]]:
        return [orjson.loads(r.payload) for r in self.commands(kind, subject)]

    def cases(self, subject: str | None = None) -> list[Any]:
        query = select(cases).order_by(cases.c.seq)
        if subject is not None:
            query = query.where(cases.c.subject == subject)
        with self.store.read() as conn:
            return list(conn.execute(query).all())

    def timers(self, subject: str | None = None) -> list[Any]:
        query = select(timers).order_by(timers.c.seq)
        if subject is not None:
            query = query.where(timers.c.subject == subject)
        with self.store.read() as conn:
            return list(conn.execute(query).all())

    def document(self, key: str) -> dict[str, Any]:
        with self.store.read() as conn:
            raw = conn.execute(select(shipments.c.document).where(shipments.c.key == key)).scalar()
        return orjson.loads(raw) if raw else {}

    def flow_state(self, key: str, flow: str) -> str:
        return str(self.document(key)["flows"][flow]["state"])
