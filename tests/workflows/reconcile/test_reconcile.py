"""Reconciliation over a real hub: situations built with canonical events over HTTP (and the
invoice commands the billing flow would have written, through the store), then every
category's rows and figures checked exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import func, select

from intermodal.config import load_config
from intermodal.connectors.odoo.sync.storage import store_master_data, store_rates
from intermodal.engine.ids import iso
from intermodal.store import Store, open_store
from intermodal.store.tables import dead_letters, events, outbox, reconciliation_runs
from intermodal.workflows.reconcile.report import as_csv, as_json
from intermodal.workflows.reconcile.run import run_reconciliation
from intermodal.workflows.reconcile.settings import ReconcileConfig
from intermodal_sim.testing import running_hub, wait_until

NOW = datetime.now(UTC).replace(microsecond=0)
_IDS = itertools.count(1)


def _event(type_: str, subject: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt-{next(_IDS)}",
        "source": "test",
        "type": type_,
        "subject": subject,
        "time": at.isoformat(),
        "data": data,
    }


def delivered(subject: str, at: datetime) -> dict[str, Any]:
    return _event(
        "intermodal.shipment.milestone",
        subject,
        at,
        {"milestone": "delivered", "occurred_at": at.isoformat()},
    )


def in_transit(subject: str, at: datetime) -> dict[str, Any]:
    return _event(
        "intermodal.shipment.milestone",
        subject,
        at,
        {"milestone": "in_transit", "occurred_at": at.isoformat()},
    )


def pod(subject: str, at: datetime) -> dict[str, Any]:
    return _event(
        "intermodal.pod.received", subject, at, {"delivered_at": at.isoformat(), "signed_by": "J"}
    )


def charge(subject: str, at: datetime, code: str, amount: str, status: str, cur: str = "EUR"):  # type: ignore[no-untyped-def]
    kind = "fuel" if code == "FUEL" else "freight"
    return _event(
        "intermodal.charge.recorded",
        subject,
        at,
        {"code": code, "kind": kind, "amount": {"amount": amount, "currency": cur},
         "status": status},
    )  # fmt: skip


@dataclass
class Situation:
    store: Store
    url: str


@pytest.fixture
def situation(db_url: str, tmp_path: Path) -> Iterator[Situation]:
    for name in ("carrier", "strict", "tms"):
        (tmp_path / f"{name}.token").write_text(f"{name}-token-0123456789-0123456789abcdef")
    config = {
        "hub": {"database": db_url},
        "partners": {
            "carrier": {"tokens": [{"token": "file:carrier.token"}],
                        "owns": ["in_transit", "delivered"]},
            "strict": {"tokens": [{"token": "file:strict.token"}]},
            "tms": {"tokens": [{"token": "file:tms.token"}]},
        },
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    settings = load_config(tmp_path / "c.yaml")
    with running_hub(settings, dispatch=False) as url:
        store = open_store(db_url, migrate=False)
        try:
            yield Situation(store, url)
        finally:
            store.dispose()


def send(situation: Situation, partner: str, batch: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{situation.url}/v1/events",
        json=batch,
        headers={"authorization": f"Bearer {partner}-token-0123456789-0123456789abcdef"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


def _invoice(store: Store, subject: str, status: str) -> None:
    """The invoice command the billing flow writes (conventions: kind and subject)."""
    row = {
        "command_id": f"cmd-invoice-{subject}",
        "endpoint": "odoo",
        "kind": "intermodal.odoo.invoice.create",
        "subject": subject,
        "payload": b"{}",
        "correlation_id": "corr",
        "created_at": iso(NOW),
    }
    with store.write() as conn:
        if status == "dead":
            conn.execute(dead_letters.insert().values(**row, attempts=10, dead_at=iso(NOW)))
        else:
            conn.execute(
                outbox.insert().values(**row, status=status, next_attempt_at=iso(NOW), attempts=1)
            )


def build(situation: Situation) -> None:
    days = lambda n: NOW - timedelta(days=n)  # noqa: E731
    carrier = [
        # S1: delivered, POD, invoiced; final 7% over the quote -> dispute.
        charge("S1", days(5), "FRT", "100.00", "provisional"),
        delivered("S1", days(3)), pod("S1", days(3)),
        charge("S1", days(2), "FRT", "107.00", "final"),
        # S2: delivered 3 days ago, not invoiced: 220.00 EUR.
        delivered("S2", days(3)),
        charge("S2", days(2), "FRT", "200", "final"), charge("S2", days(2), "FUEL", "20", "final"),
        # S3: delivered an hour ago: inside the grace period.
        delivered("S3", NOW - timedelta(hours=1)),
        # S4: in transit, already invoiced (pending), no POD; 50 USD provisional.
        in_transit("S4", days(1)), charge("S4", days(1), "FRT", "50", "provisional", "USD"),
        # S5: delivered 10 days ago, invoiced, a charge still provisional.
        delivered("S5", days(10)), pod("S5", days(10)),
        charge("S5", days(11), "FRT", "80", "provisional"),
        # S6: delivered, its invoice command died in the dead letters.
        delivered("S6", days(3)), pod("S6", days(3)),
        # S8: 1.5% over the quote: inside the default 2% tolerance.
        delivered("S8", days(3)), pod("S8", days(3)),
        charge("S8", days(4), "FRT", "100", "provisional"),
        charge("S8", days(2), "FRT", "101.50", "final"),
        # S7: delivered and invoiced; its final charge comes from `strict` (below).
        delivered("S7", days(3)), pod("S7", days(3)),
        charge("S7", days(4), "FRT", "100", "provisional"),
    ]  # fmt: skip
    send(situation, "carrier", carrier)
    # S7: 1.5% over, from a partner with a 1% tolerance -> dispute.
    send(situation, "strict", [charge("S7", days(2), "FRT", "101.50", "final")])
    # A duplicate (same id) of S2's delivery is acknowledged and stored nowhere.
    send(situation, "carrier", [carrier[4]])
    expected = len(carrier) + 1

    def applied() -> bool:
        with situation.store.read() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar() == expected

    wait_until(applied, timeout=10)
    for subject in ("S1", "S5", "S7", "S8"):
        _invoice(situation.store, subject, "delivered")
    _invoice(situation.store, "S4", "pending")
    _invoice(situation.store, "S6", "dead")
    with situation.store.write() as conn:  # Odoo's rates (the sync's tables): 1 EUR = 1.10 USD
        store_rates(conn, [{"odoo_id": 1, "currency": "USD", "company_id": 0, "day": "2020-01-01",
                            "rate": "1.1", "write_date": "x", "synced_at": iso(NOW)}])  # fmt: skip
        store_master_data(conn, [{"kind": "company", "odoo_id": 1, "key": "Hub Co",
                                  "data": '{"currency": "EUR"}', "write_date": "x",
                                  "synced_at": iso(NOW)}])  # fmt: skip


CONFIG = ReconcileConfig(tolerance_by_partner={"strict": 1.0})


def test_every_category_s_rows_and_figures(situation: Situation) -> None:
    build(situation)
    run = run_reconciliation(situation.store, CONFIG, now=NOW)
    rows = run.report.rows
    at3 = iso(NOW - timedelta(days=3))
    assert rows["delivered_not_invoiced"] == [
        {"shipment": "S2", "delivered_at": at3, "invoice_status": "none", "amount": "220.00",
         "currency": "EUR"},
        {"shipment": "S6", "delivered_at": at3, "invoice_status": "dead_letter",
         "amount": "0.00", "currency": "EUR"},
    ]  # fmt: skip
    assert rows["invoiced_without_pod"] == [
        {"shipment": "S4", "invoice_status": "pending", "state": "in_transit", "amount": "50.00",
         "currency": "USD"},
    ]  # fmt: skip
    disputes = [
        {k: r[k] for k in ("shipment", "code", "partner", "provisional_amount", "final_amount",
                           "difference", "difference_percent", "tolerance_percent", "currency")}
        for r in rows["freight_disputes"]
    ]  # fmt: skip
    assert disputes == [
        {"shipment": "S1", "code": "FRT", "partner": "carrier", "provisional_amount": "100.00",
         "final_amount": "107.00", "difference": "7.00", "difference_percent": "7.00",
         "tolerance_percent": "2.0", "currency": "EUR"},
        {"shipment": "S7", "code": "FRT", "partner": "strict", "provisional_amount": "100.00",
         "final_amount": "101.50", "difference": "1.50", "difference_percent": "1.50",
         "tolerance_percent": "1.0", "currency": "EUR"},
    ]  # fmt: skip
    assert rows["provisional_not_finalised"] == [
        {"shipment": "S5", "code": "FRT", "delivered_at": iso(NOW - timedelta(days=10)),
         "age_days": 10, "amount": "80.00", "currency": "EUR"},
    ]  # fmt: skip
    # S2's freight and fuel lines share one time: both applied (neither taken for a duplicate).
    with situation.store.read() as conn:
        outcomes = conn.execute(
            select(events.c.outcome).where(
                events.c.subject == "S2", events.c.type == "intermodal.charge.recorded"
            )
        ).scalars()
        assert sorted(outcomes) == ["applied", "applied"]
    assert run.report.figures == {
        "delivered_not_invoiced": {"count": 2, "value": "220.00", "currency": "EUR",
                                   "unconverted": 0},
        "invoiced_without_pod": {"count": 1, "value": "45.45", "currency": "EUR",
                                 "unconverted": 0},
        "freight_disputes": {"count": 2, "value": "8.50", "currency": "EUR", "unconverted": 0},
        "provisional_not_finalised": {"count": 1, "value": "80.00", "currency": "EUR",
                                      "unconverted": 0},
    }  # fmt: skip

    # The run is recorded for the control tower, with the same figures and rows.
    with situation.store.read() as conn:
        (recorded,) = conn.execute(select(reconciliation_runs)).all()
    assert recorded.run_id == run.run_id and recorded.status == "done"
    assert orjson.loads(recorded.figures) == run.report.figures
    assert orjson.loads(recorded.report) == run.report.rows

    # Reports: JSON holds both; CSV a row per finding, category first.
    body = orjson.loads(as_json(run))
    assert body["figures"] == run.report.figures and body["currency"] == "EUR"
    table = list(csv.DictReader(io.StringIO(as_csv(run).decode())))
    assert [(r["category"], r["shipment"]) for r in table] == [
        ("delivered_not_invoiced", "S2"), ("delivered_not_invoiced", "S6"),
        ("invoiced_without_pod", "S4"), ("freight_disputes", "S1"), ("freight_disputes", "S7"),
        ("provisional_not_finalised", "S5"),
    ]  # fmt: skip
    assert table[3]["difference"] == "7.00" and table[0]["amount"] == "220.00"


def test_settings_move_rows_between_categories(situation: Situation) -> None:
    build(situation)
    generous = ReconcileConfig(
        grace_hours=0, tolerance_percent=10, days_provisional=30, currency="USD"
    )
    run = run_reconciliation(situation.store, generous, now=NOW)
    assert [r["shipment"] for r in run.report.rows["delivered_not_invoiced"]] == ["S2", "S3", "S6"]
    assert run.report.rows["freight_disputes"] == []
    assert run.report.rows["provisional_not_finalised"] == []
    # Figures in USD at 1.10: 220 EUR -> 242.00 USD; the USD row stays 50.00.
    assert run.report.figures["delivered_not_invoiced"]["value"] == "242.00"
    assert run.report.figures["invoiced_without_pod"]["value"] == "50.00"


def test_without_a_rate_the_row_counts_and_is_flagged_unconverted(db_url: str) -> None:
    from intermodal.workflows.reconcile.checks import ShipmentFacts, reconcile

    document = {"charges": {"FRT": {"at": "x", "data": {"code": "FRT", "kind": "freight",
                "status": "final", "amount": {"amount": "12.5", "currency": "JPY"}}}}}  # fmt: skip
    ship = ShipmentFacts("S9", "delivered", NOW - timedelta(days=2), document, not_invoiced=True)
    report = reconcile([ship], [], ReconcileConfig(), NOW, "EUR", lambda *a: None)
    assert report.rows["delivered_not_invoiced"][0]["amount"] == "13"  # JPY has no minor unit
    assert report.figures["delivered_not_invoiced"] == {
        "count": 1, "value": "0.00", "currency": "EUR", "unconverted": 1,
    }  # fmt: skip
