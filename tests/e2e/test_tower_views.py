"""The overview's figures computed from rows put in the store the way the hub writes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from intermodal.config import Settings
from intermodal.dashboard import views
from intermodal.engine.ids import iso, utcnow
from intermodal.outbox.kinds import INVOICE_COMMAND
from intermodal.store import open_store
from intermodal.store.tables import outbox, shipments


def _shipment(key: str, state: str, charges: dict[str, tuple[str, str]]) -> dict[str, Any]:
    now = iso(utcnow())
    document = {
        "charges": {
            code: {"at": now, "data": {"code": code, "amount": {"amount": a, "currency": c}}}
            for code, (a, c) in charges.items()
        }
    }
    return {
        "key": key,
        "state": state,
        "document": orjson.dumps(document).decode(),
        "created_at": now,
        "updated_at": now,
    }


def _invoice(key: str, status: str) -> dict[str, Any]:
    now = iso(utcnow())
    return {
        "command_id": f"cmd-invoice-{key}",
        "endpoint": "odoo",
        "kind": INVOICE_COMMAND,
        "subject": key,
        "payload": b"{}",
        "correlation_id": "corr-1",
        "status": status,
        "next_attempt_at": now,
        "created_at": now,
    }


def test_delivered_not_invoiced_counts_and_sums_per_currency(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    endpoints = {"odoo": {"kind": "odoo", "url": "http://127.0.0.1:8069"}}
    with_billing = make_settings(
        {
            "hub": {"database": db_url},
            "endpoints": endpoints,
            "workflows": {"roles": {"odoo": "odoo"}},
        }
    )
    without = make_settings({"hub": {"database": db_url}, "endpoints": endpoints})
    store = open_store(db_url)
    try:
        with store.write() as conn:
            conn.execute(
                shipments.insert(),
                [
                    _shipment("INVOICED", "delivered", {"freight": ("100.00", "EUR")}),
                    _shipment("PENDING", "delivered", {"freight": ("120.50", "EUR")}),
                    _shipment(
                        "NONE",
                        "delivered",
                        {"freight": ("80.25", "EUR"), "duty": ("10", "USD"), "bad": ("x", "EUR")},
                    ),
                    _shipment("MOVING", "in_transit", {"freight": ("999", "EUR")}),
                ],
            )
            conn.execute(
                outbox.insert(), [_invoice("INVOICED", "delivered"), _invoice("PENDING", "pending")]
            )
        figures = views.overview(store, with_billing, {})["not_invoiced"]
        assert figures == {
            "count": 2,
            "capped": False,
            "value": [("EUR", "200.75"), ("USD", "10.00")],
        }
        page = _render_overview(views.overview(store, with_billing, {}))
        assert '<b id="not-invoiced">2</b> delivered, not invoiced' in page
        assert "200.75 EUR" in page and "10.00 USD" in page
        # Without the workflows' Odoo role no invoice is ever made: no such figure at all.
        assert views.overview(store, without, {})["not_invoiced"] is None
        assert "not invoiced" not in _render_overview(views.overview(store, without, {}))
    finally:
        store.dispose()


def _render_overview(data: dict[str, Any]) -> str:
    from intermodal.dashboard.app import _templates

    return (
        _templates()
        .get_template("overview.html")
        .render(
            **data, prefix="/tower", htmx="htmx.js", version="0", operator=None, csrf="", path="/"
        )
    )
