"""Delivered but not invoiced: one rule (workflows/billing.py), and the metrics gauges, the
control tower's overview and reconciliation all give its answer, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from intermodal.config import Settings
from intermodal.dashboard import views
from intermodal.engine.ids import iso
from intermodal.observe.metrics import Metrics
from intermodal.outbox.kinds import INVOICE_COMMAND
from intermodal.store import open_store
from intermodal.store.tables import dead_letters, outbox, shipments
from intermodal.workflows.billing import delivered_not_invoiced
from intermodal.workflows.reconcile.run import run_reconciliation
from intermodal.workflows.reconcile.settings import ReconcileConfig

NOW = datetime.now(UTC).replace(microsecond=0)
DAYS_AGO = iso(NOW - timedelta(days=3))


def _shipment(key: str, state: str, main: str | None, at: str, amount: str, cur: str) -> Any:
    charge = {"code": "FRT", "kind": "freight", "status": "final",
              "amount": {"amount": amount, "currency": cur}}  # fmt: skip
    return {
        "key": key,
        "state": state,
        "state_at": at,
        "main_milestone": main,
        "main_at": at if main else None,
        "document": orjson.dumps({"charges": {"FRT": {"at": at, "data": charge}}}).decode(),
        "created_at": at,
        "updated_at": at,
    }


def _command(key: str, kind: str = INVOICE_COMMAND) -> dict[str, Any]:
    return {
        "command_id": f"cmd-{kind}-{key}",
        "endpoint": "odoo",
        "kind": kind,
        "subject": key,
        "payload": b"{}",
        "correlation_id": "corr",
        "created_at": DAYS_AGO,
    }


def test_metrics_tower_and_reconciliation_agree(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    store = open_store(db_url)
    try:
        with store.write() as conn:
            conn.execute(
                shipments.insert(),
                [
                    _shipment("PAID", "delivered", "delivered", DAYS_AGO, "100", "EUR"),
                    _shipment("PENDING", "delivered", "delivered", DAYS_AGO, "120.50", "EUR"),
                    _shipment("DEAD", "delivered", "delivered", DAYS_AGO, "30", "USD"),
                    _shipment("NONE", "delivered", "delivered", DAYS_AGO, "80.25", "EUR"),
                    _shipment("FRESH", "delivered", "delivered", iso(NOW), "5", "EUR"),
                    _shipment("MOVING", "in_transit", "in_transit", DAYS_AGO, "999", "EUR"),
                    _shipment("RETURNED", "returned", "delivered", DAYS_AGO, "999", "EUR"),
                ],
            )
            due = {"attempts": 1, "next_attempt_at": DAYS_AGO, "delivered_at": DAYS_AGO}
            conn.execute(
                outbox.insert(),
                [
                    {**_command("PAID"), **due, "status": "delivered"},
                    {**_command("PENDING"), **due, "status": "pending", "delivered_at": None},
                    # Another kind of command, delivered, invoices nothing.
                    {**_command("NONE", "intermodal.notify"), **due, "status": "delivered"},
                ],
            )
            conn.execute(
                dead_letters.insert(),
                [
                    {
                        **_command("DEAD"),
                        "attempts": 10,
                        "last_error": "HTTP 400",
                        "dead_at": DAYS_AGO,
                    }
                ],
            )

        expected = ["DEAD", "FRESH", "NONE", "PENDING"]
        with store.read() as conn:
            rule = sorted(conn.execute(delivered_not_invoiced(shipments.c.key)).scalars())
        assert rule == expected

        metrics = Metrics(store, [], cache_seconds=0)
        value = metrics.registry.get_sample_value
        assert value("intermodal_delivered_not_invoiced") == len(expected)
        assert value("intermodal_delivered_not_invoiced_value", {"currency": "EUR"}) == 205.75
        assert value("intermodal_delivered_not_invoiced_value", {"currency": "USD"}) == 30.0

        settings = make_settings(
            {
                "hub": {"database": db_url},
                "endpoints": {"odoo": {"kind": "odoo", "url": "http://127.0.0.1:8069"}},
                "workflows": {"roles": {"odoo": "odoo"}},
            }
        )
        tower = views.overview(store, settings, {})["not_invoiced"]
        assert tower == {
            "count": len(expected),
            "capped": False,
            "value": [("EUR", "205.75"), ("USD", "30.00")],
        }

        config = ReconcileConfig(grace_hours=0, currency="EUR")
        rows = run_reconciliation(store, config, now=NOW).report.rows["delivered_not_invoiced"]
        assert [(r["shipment"], r["invoice_status"]) for r in rows] == [
            ("DEAD", "dead_letter"), ("FRESH", "none"), ("NONE", "none"), ("PENDING", "pending"),
        ]  # fmt: skip
        # Reconciliation's grace period only holds back the freshly delivered ones.
        rows = run_reconciliation(store, ReconcileConfig(currency="EUR"), now=NOW).report.rows
        assert [r["shipment"] for r in rows["delivered_not_invoiced"]] == [
            "DEAD",
            "NONE",
            "PENDING",
        ]
    finally:
        store.dispose()
