"""A hub's store with flows and foresight on, fed through the real applier, for the ETA and
warning tests; and simulated trips turned into the events a carrier would send."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from intermodal.config import Settings
from intermodal.engine.ids import iso
from intermodal.foresight.history import Trip
from intermodal.store.tables import eta_predictions
from tests.conftest import ADMIN_TOKEN_REF, new_secret
from tests.workflows.helpers import Harness, event, milestone

CHICAGO = {"city": "Chicago", "country": "US"}
DENVER = {"city": "Denver", "country": "US"}
DALLAS = {"city": "Dallas", "country": "US"}


CARRIER_TOKEN = "carrier-foresight-token-5b1e07c2-0123456789"


def foresight_config(
    make_settings: Callable[..., Settings], db_url: str, **foresight: Any
) -> Settings:
    """Partners carrier (batch token `CARRIER_TOKEN`) and tms, an Odoo role, the portal as
    `notify`, a subscriber `watcher` for ETA changes and cases, an `express` service level
    (delivered in 30 h), the tests' admin token."""
    config: dict[str, Any] = {
        "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
        "partners": {
            "carrier": {
                "kind": "carrier",
                "webhook_secrets": ["env:CARRIER_S"],
                "tokens": [{"token": "env:CARRIER_TOKEN"}],
            },
            "tms": {"kind": "tms", "webhook_secrets": ["env:TMS_S"]},
        },
        "endpoints": {
            "odoo-out": {
                "kind": "odoo",
                "url": "http://127.0.0.1:9/odoo",
                "options": {"database": "x", "api_key": "env:ODOO_KEY"},
            },
            "portal": {"url": "http://127.0.0.1:9/portal"},
            "watcher": {
                "url": "http://127.0.0.1:9/watcher",
                "events": ["eta.changed", "case.opened", "case.closed"],
            },
        },
        "workflows": {
            "roles": {"odoo": "odoo-out", "notify": "portal"},
            "service_levels": {"express": {"expected": {"delivered": "30h"}}},
        },
        "foresight": foresight,
    }
    return make_settings(
        config,
        env={
            "CARRIER_S": new_secret(),
            "TMS_S": new_secret(),
            "ODOO_KEY": "k" * 32,
            "CARRIER_TOKEN": CARRIER_TOKEN,
        },
    )


def lane_shipment(key: str, when: str, origin: dict[str, str], destination: dict[str, str],
                  carrier: str = "steady-freight") -> dict[str, Any]:  # fmt: skip
    stops = [
        {"sequence": 1, "kind": "pickup", "address": origin},
        {"sequence": 2, "kind": "delivery", "address": destination},
    ]
    parties = [
        {"role": "customer", "name": "Acme Retail", "reference": "ACME-1"},
        {"role": "carrier", "name": carrier},
    ]
    references = {"odoo_sale_order": f"S-{key}", "customer_reference": f"PO-{key}"}
    data = {"key": key, "parties": parties, "stops": stops, "service_level": "express",
            "references": references}  # fmt: skip
    return event("shipment.upserted", key, data, when)


def trip_events(trip: Trip, every: int = 16) -> list[dict[str, Any]]:
    """A simulated trip as a carrier reports it: shipment, booked, picked_up at the origin,
    in_transit scans at the cities it passes (every `every`-th fix placed at the nearest
    gazetteer city would be noise, so scans name the lane's ends only), delivered."""
    key = trip.trip_id
    (oc, ocity), (dc, dcity) = trip.lane.origin, trip.lane.destination
    origin, destination = {"city": ocity, "country": oc}, {"city": dcity, "country": dc}
    out = [
        lane_shipment(key, iso(trip.booked_at), origin, destination, trip.carrier),
        milestone(key, "booked", iso(trip.booked_at)),
        milestone(key, "picked_up", iso(trip.picked_up_at), location=origin),
        milestone(key, "delivered", iso(trip.delivered_at), location=destination),
    ]
    return out


def prediction(h: Harness, key: str) -> Any:
    with h.store.read() as conn:
        return conn.execute(select(eta_predictions).where(eta_predictions.c.key == key)).first()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
