"""The flows inside the applier, on a real SQLite file and a real PostgreSQL database:
commands, cases and timers are written with the state change, once, whatever the replays."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from intermodal.config import Settings
from intermodal.store import Store, open_store
from intermodal.store.tables import outbox
from tests.workflows.helpers import (
    Harness,
    at,
    charge,
    flow_config,
    milestone,
    pod,
    shipment,
)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    yield s
    s.dispose()


def test_order_to_invoice_writes_each_effect_once(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    settings = flow_config(make_settings, db_url, roles={"tms": "tms-out", "notify": "portal",
                                                          "odoo": "odoo-out"})  # fmt: skip
    h = Harness(store, settings)
    key = "SHP-1"
    h.send("odoo", shipment(key, service_level="express"), milestone(key, "booked", at(8)))
    h.send("carrier", charge(key, "freight", "1000.00", "provisional", at(8, 5)))
    (job,) = h.payloads("intermodal.dispatch.requested", key)
    assert job["data"]["shipment"]["key"] == key and job["subject"] == key
    assert h.commands("intermodal.dispatch.requested")[0].endpoint == "tms-out"
    (timer,) = h.timers(key)
    assert (timer.kind, timer.status, timer.due_at) == (
        "sla",
        "pending",
        "2026-11-23T10:00:00.000000Z",
    )

    h.send("tms", milestone(key, "dispatched", at(9)))
    assert h.flow_state(key, "order_intake") == "accepted"
    h.send(
        "carrier", milestone(key, "picked_up", at(9, 30)), milestone(key, "delivered", at(9, 50))
    )
    assert h.timers(key)[0].status == "cancelled"  # delivered in time
    assert h.payloads("intermodal.odoo.invoice.create") == []  # no POD, charge provisional
    h.send("carrier", pod(key, at(9, 50)))
    assert h.payloads("intermodal.odoo.invoice.create") == []  # charge still provisional
    final = charge(key, "freight", "1010.00", "final", at(12))  # +1%: within tolerance
    h.send("carrier", final)
    (invoice,) = h.payloads("intermodal.odoo.invoice.create", key)
    assert invoice["data"]["customer"]["name"] == "Acme Retail"
    assert [(c["code"], c["amount"]["amount"]) for c in invoice["data"]["charges"]] == [
        ("freight", "1010.00")
    ]
    assert invoice["data"]["post"] is True and invoice["data"]["origin"] == f"S-{key}"
    assert h.flow_state(key, "billing") == "invoiced"
    assert h.cases(key) == []
    milestones = h.payloads("intermodal.shipment.milestone", key)
    assert [p["data"]["milestone"] for p in milestones] == ["booked", "dispatched", "picked_up",
                                                            "delivered"]  # fmt: skip
    assert {r.endpoint for r in h.commands("intermodal.shipment.milestone")} == {"odoo-out"}
    notes = [p["data"]["milestone"] for p in h.payloads("intermodal.notify", key)]
    assert notes == ["picked_up", "delivered"]

    # The same messages again (a partner retrying with new message ids): nothing new.
    before = _count(store)
    h.send("carrier", final, pod(key, at(9, 50)))
    h.send("carrier", charge(key, "freight", "1010.00", "final", at(12, 30)))  # later copy
    assert _count(store) == before
    assert len(h.payloads("intermodal.odoo.invoice.create")) == 1


def test_dispute_holds_the_invoice_or_not_per_configuration(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    for hold, key in ((True, "SHP-H"), (False, "SHP-N")):
        settings = flow_config(make_settings, db_url, billing={"hold_on_dispute": hold},
                               roles={"odoo": "odoo-out"})  # fmt: skip
        h = Harness(store, settings)
        h.send("odoo", shipment(key), milestone(key, "booked", at(8)))
        h.send("carrier", charge(key, "freight", "1000.00", "provisional", at(8)))
        h.send("carrier", milestone(key, "delivered", at(10)), pod(key, at(10)))
        h.send("carrier", charge(key, "freight", "1070.00", "final", at(11)))  # +7%
        (case,) = h.cases(key)
        assert (case.kind, case.status, case.team) == ("billing_dispute", "open", "billing")
        (activity,) = h.payloads("intermodal.odoo.activity.create", key)
        assert "above the quote" in activity["data"]["summary"]
        invoices = h.payloads("intermodal.odoo.invoice.create", key)
        if hold:
            assert invoices == [] and h.flow_state(key, "billing") == "held"
        else:
            (invoice,) = invoices
            assert invoice["data"]["charges"][0]["amount"]["amount"] == "1070.00"


def test_exceptions_open_and_close_cases(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    h = Harness(store, flow_config(make_settings, db_url))
    key = "SHP-X"
    h.send("odoo", shipment(key), milestone(key, "booked", at(8)))
    h.send("carrier", milestone(key, "out_for_delivery", at(9)))
    h.send("carrier", milestone(key, "delivery_failed", at(10), reason="nobody home"))
    (case,) = h.cases(key)
    assert (case.kind, case.status, case.team) == ("delivery_failed", "open", "operations")
    assert case.reason == "delivery attempt failed: nobody home"
    h.send("carrier", milestone(key, "delivery_failed", at(10, 1), reason="again"))
    assert len(h.cases(key)) == 1  # one open case per kind
    h.send("carrier", milestone(key, "delivered", at(15)))
    (case,) = h.cases(key)
    assert case.status == "closed" and case.closed_at is not None


def test_without_workflows_nothing_changes(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    settings = make_settings(
        {"hub": {"database": db_url}, "endpoints": {"portal": {"url": "http://127.0.0.1:9/p"}}}
    )
    h = Harness(store, settings)
    assert h.applier.flows is None
    h.send("acme", shipment("K"), milestone("K", "booked", at(8)))
    (cmd,) = h.commands()
    assert (cmd.kind, cmd.endpoint) == ("webhook", "portal")
    assert "flows" not in h.document("K") and h.cases() == [] and h.timers() == []


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar() or 0)
