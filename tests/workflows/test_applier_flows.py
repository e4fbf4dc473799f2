"""The flows inside the applier, on a real SQLite file and a real PostgreSQL database:
commands, cases and timers are written with the state change, once, whatever the replays."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from intermodal.config import Settings
from intermodal.edi.x12 import parse_x12
from intermodal.store import Store, open_store
from intermodal.store.tables import cases, currency_rates, outbox
from intermodal.workflows.timers import TimerWorker
from tests.workflows.helpers import (
    CUSTOMER,
    Harness,
    at,
    charge,
    customs,
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


def _rate(store: Store, odoo_id: int, currency: str, rate: str, day: str = "2026-11-01") -> None:
    with store.write() as conn:
        conn.execute(
            currency_rates.insert().values(
                odoo_id=odoo_id, currency=currency, company_id=0, day=day, rate=rate,
                write_date="2026-11-01 00:00:00", synced_at="2026-11-01T00:00:00Z",
            )
        )  # fmt: skip


def _billable(h: Harness, key: str, *charges: dict[str, Any], **shipment_data: Any) -> None:
    h.send("odoo", shipment(key, **shipment_data), milestone(key, "booked", at(8)))
    h.send("carrier", milestone(key, "delivered", at(10)))
    h.send("carrier", pod(key, at(10)), *charges)


def test_foreign_charges_are_converted_with_odoos_rates_or_held_without(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    h = Harness(store, flow_config(make_settings, db_url, roles={"odoo": "odoo-out"}))
    _rate(store, 1, "USD", "1.0")
    _rate(store, 2, "EUR", "0.9")  # 0.9 EUR per USD: 900 EUR is 1000 USD
    _billable(h, "FX-EUR", charge("FX-EUR", "freight", "900.00", "final", at(11), currency="EUR"),
              charge("FX-EUR", "fuel", "12.35", "final", at(11)))  # fmt: skip
    (invoice,) = h.payloads("intermodal.odoo.invoice.create", "FX-EUR")
    assert invoice["data"]["currency"] == "USD"
    assert [(c["code"], c["amount"]) for c in invoice["data"]["charges"]] == [
        ("freight", {"amount": "1000.00", "currency": "USD"}),
        ("fuel", {"amount": "12.35", "currency": "USD"}),
    ]
    _billable(h, "FX-GBP", charge("FX-GBP", "freight", "800.00", "final", at(11), currency="GBP"))
    assert h.payloads("intermodal.odoo.invoice.create", "FX-GBP") == []
    (case,) = h.cases("FX-GBP")
    assert (case.kind, case.team, case.status) == ("no_rate", "billing", "open")
    assert h.flow_state("FX-GBP", "billing") == "held"


def test_incoterm_decides_who_pays_duties(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    h = Harness(store, flow_config(make_settings, db_url, roles={"odoo": "odoo-out"}))
    consignee = {"role": "consignee", "name": "Dock 7", "odoo_partner_id": 77}
    for key, incoterm, parties in (
        ("INCO-DDP", "DDP", [CUSTOMER, consignee]),
        ("INCO-DAP", "DAP", [CUSTOMER, consignee]),
        ("INCO-EXW", "EXW", [CUSTOMER]),  # nobody to bill the duties to
    ):
        _billable(
            h, key,
            charge(key, "freight", "1000.00", "final", at(11)),
            charge(key, "duty", "80.00", "final", at(11), kind="duty"),
            charge(key, "vat", "20.00", "final", at(11), kind="tax"),
            incoterm=incoterm, parties=parties,
        )  # fmt: skip

    def invoices(key: str) -> list[tuple[str, str, list[str]]]:
        return [
            (p["data"]["reference"], p["data"]["customer"]["name"],
             [c["code"] for c in p["data"]["charges"]])
            for p in h.payloads("intermodal.odoo.invoice.create", key)
        ]  # fmt: skip

    # DDP: the seller pays duties and taxes, they are lines of the customer's invoice.
    assert invoices("INCO-DDP") == [("INCO-DDP", "Acme Retail", ["duty", "freight", "vat"])]
    # DAP: the consignee pays them, on its own invoice.
    assert invoices("INCO-DAP") == [
        ("INCO-DAP", "Acme Retail", ["freight"]),
        ("INCO-DAP-DUTIES", "Dock 7", ["duty", "vat"]),
    ]
    assert invoices("INCO-EXW") == [("INCO-EXW", "Acme Retail", ["freight"])]


def test_sla_clock_starts_next_day_after_the_cutoff(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    levels = {"standard": {"expected": {"delivered": "1d"}, "cutoff": "14:00"}}
    settings = flow_config(
        make_settings, db_url, service_levels=levels, default_service_level="standard"
    )
    h = Harness(store, settings)
    h.send("odoo", shipment("CUT-AM"), milestone("CUT-AM", "booked", at(13, 59)))
    h.send("odoo", shipment("CUT-PM"), milestone("CUT-PM", "booked", at(14, 1)))
    assert h.timers("CUT-AM")[0].due_at == "2026-11-24T13:59:00.000000Z"
    assert h.timers("CUT-PM")[0].due_at == "2026-11-25T00:00:00.000000Z"


def test_tender_as_x12_204_with_stored_control_numbers(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    settings = make_settings(
        {
            "hub": {"database": db_url},
            "endpoints": {"tms-edi": {"kind": "edi", "url": "http://127.0.0.1:9/edi",
                                      "milestones": []}},
            "workflows": {
                "roles": {"tms": "tms-edi", "tms_mode": "x12"},
                "tender_x12": {"sender_id": "INTERMODAL", "receiver_id": "TMSSIM", "scac": "TMSS"},
            },
        }
    )  # fmt: skip
    h = Harness(store, settings)
    for key in ("X12-1", "X12-2"):
        h.send("odoo", shipment(key), milestone(key, "booked", at(8)))
    documents = []
    for key in ("X12-1", "X12-2"):
        (row,) = h.commands("intermodal.dispatch.requested", key)
        assert row.endpoint == "tms-edi"
        documents.append(parse_x12(bytes(row.payload)))
    numbers = [doc.interchanges[0].control_number for doc in documents]
    assert numbers == ["000000001", "000000002"]
    for key, doc in zip(("X12-1", "X12-2"), documents, strict=True):
        ((ic, _, tx),) = list(doc.transactions())
        assert (ic.sender.strip(), ic.receiver.strip(), tx.set_id) == (
            "INTERMODAL",
            "TMSSIM",
            "204",
        )
        b2 = next(seg for seg in tx.segments if seg.tag == "B2")
        assert (b2.value(2), b2.value(4)) == ("TMSS", key)
        cities = [seg.value(1) for seg in tx.segments if seg.tag == "N4"]
        assert cities == ["CHICAGO", "BOSTON"]


@st.composite
def _deliveries(draw: st.DrawFn) -> list[int]:
    """An order of the shipment's 7 deliveries, some sent twice."""
    order = draw(st.permutations(range(7)))
    again = draw(st.lists(st.integers(0, 6), max_size=4))
    return [*order, *again]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(_deliveries())
def test_any_order_with_duplicates_invoices_once_with_the_same_lines(
    make_settings: Callable[..., Settings], sqlite_url: str, deliveries: list[int]
) -> None:
    settings_ = flow_config(make_settings, sqlite_url, roles={"odoo": "odoo-out"})
    store = open_store(sqlite_url)
    store.migrate()
    try:
        h = Harness(store, settings_)
        key = f"PERM-{uuid.uuid4().hex[:12]}"
        events = [
            shipment(key),
            milestone(key, "booked", at(8)),
            milestone(key, "picked_up", at(9)),
            milestone(key, "delivered", at(12)),
            pod(key, at(12)),
            charge(key, "freight", "1000.00", "provisional", at(8)),
        ]
        # The carrier's freight invoice is one document: its lines arrive together.
        invoice_lines = [
            charge(key, "freight", "1015.00", "final", at(13)),
            charge(key, "fuel", "120.00", "final", at(13)),
        ]
        for index in deliveries:
            sent = invoice_lines if index == 6 else [events[index]]
            h.send("carrier" if index else "odoo", *sent)
        (invoice,) = h.payloads("intermodal.odoo.invoice.create", key)
        lines = [(c["code"], c["amount"]["amount"]) for c in invoice["data"]["charges"]]
        assert lines == [("freight", "1015.00"), ("fuel", "120.00")]
        assert h.flow_state(key, "billing") == "invoiced"
        assert h.cases(key) == []
    finally:
        store.dispose()


def test_customs_release_in_the_second_of_its_hold_clears_it(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    h = Harness(store, flow_config(make_settings, db_url))
    for key, order in (("CUS-1", ("hold", "released")), ("CUS-2", ("released", "hold"))):
        h.send("odoo", shipment(key), milestone(key, "booked", at(8)))
        for state in order:
            h.send("broker", customs(key, state, at(9), reason="x"))
        assert h.document(key)["customs"]["data"]["state"] == "released"
        assert [c.status for c in h.cases(key)] == (["closed"] if key == "CUS-1" else [])
        assert h.flow_state(key, "customs") == ("released" if key == "CUS-1" else "clear")


def test_a_dispute_closed_in_the_tower_releases_the_held_invoice(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    h = Harness(store, flow_config(make_settings, db_url, roles={"odoo": "odoo-out"}))
    key = "REL-1"
    h.send("odoo", shipment(key), milestone(key, "booked", at(8)))
    h.send("carrier", charge(key, "freight", "1000.00", "provisional", at(8)))
    h.send("carrier", milestone(key, "delivered", at(10)), pod(key, at(10)))
    h.send("carrier", charge(key, "freight", "1070.00", "final", at(11)))
    (case,) = h.cases(key)
    assert h.flow_state(key, "billing") == "held"
    worker = TimerWorker(store)
    assert worker.post_closed_cases() == 0
    # The control tower closes a case by updating its row (dashboard/app.py).
    with store.write() as conn:
        conn.execute(
            update(cases).where(cases.c.case_id == case.case_id)
            .values(status="closed", closed_at="2026-11-23T12:00:00.000000Z")
        )  # fmt: skip
    assert worker.post_closed_cases() == 1
    assert worker.post_closed_cases() == 0  # once
    assert TimerWorker(store).post_closed_cases() == 0  # once, across restarts too
    h.apply()
    (invoice,) = h.payloads("intermodal.odoo.invoice.create", key)
    assert invoice["data"]["charges"][0]["amount"]["amount"] == "1070.00"
    assert h.flow_state(key, "billing") == "invoiced"
    # A case the flows closed themselves is posted too, and changes nothing.
    h.send("odoo", shipment("REL-2"), milestone("REL-2", "booked", at(8)))
    h.send("carrier", milestone("REL-2", "delivery_failed", at(9), reason="closed"))
    h.send("carrier", milestone("REL-2", "delivered", at(15)))
    assert [c.status for c in h.cases("REL-2")] == ["closed"]
    assert worker.post_closed_cases() == 1
    before = h.document("REL-2")["flows"]
    h.apply()
    assert h.document("REL-2")["flows"]["cases"] == before["cases"] == {}


def test_a_service_level_learnt_after_the_booking_counts_from_the_booking(
    make_settings: Callable[..., Settings], db_url: str, store: Store
) -> None:
    h = Harness(store, flow_config(make_settings, db_url))
    h.send("odoo", shipment("LATE-SL"), milestone("LATE-SL", "booked", at(8)))
    assert h.timers("LATE-SL") == [] and h.flow_state("LATE-SL", "sla") == "idle"
    h.send("odoo", shipment("LATE-SL", at(9), service_level="express"))
    (timer,) = h.timers("LATE-SL")
    assert timer.due_at == "2026-11-23T10:00:00.000000Z"  # booked 08:00 + 2 h
    h.send("odoo", shipment("LATE-SL", at(9, 30), service_level="express"))
    assert len(h.timers("LATE-SL")) == 1


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.permutations(range(7)), st.lists(st.integers(0, 6), max_size=3))
def test_any_order_of_milestones_ends_in_the_same_flow_states_and_open_cases(
    make_settings: Callable[..., Settings], sqlite_url: str, order: list[int], again: list[int]
) -> None:
    """A failed attempt at 11:00 after out-for-delivery at 10:00, then delivered at 14:00:
    whatever order (and repetitions) the hub sees them in, the flows end in the same states
    with no case open. A milestone older than the failure never closes its case early."""
    settings_ = flow_config(make_settings, sqlite_url)
    store = open_store(sqlite_url)
    store.migrate()
    try:
        h = Harness(store, settings_)
        key = f"MS-{uuid.uuid4().hex[:12]}"
        h.send("odoo", shipment(key))
        events = [
            milestone(key, "booked", at(8)),
            milestone(key, "picked_up", at(9)),
            milestone(key, "in_transit", at(9, 30)),
            milestone(key, "out_for_delivery", at(10)),
            milestone(key, "delivery_failed", at(11), reason="closed"),
            milestone(key, "delivered", at(14)),
            pod(key, at(14)),
        ]
        seen = []
        for index in [*order, *again]:
            h.send("carrier", events[index])
            seen.append(index)
            opened = [c for c in h.cases(key) if c.status == "open"]
            failed_shown = 4 in seen and 5 not in seen
            assert bool(opened) == failed_shown, (seen, opened)
        doc = h.document(key)["flows"]
        states = {name: doc[name]["state"] for name in ("execution", "exceptions", "sla")}
        assert states == {"execution": "delivered", "exceptions": "normal", "sla": "idle"}
        assert [c for c in h.cases(key) if c.status == "open"] == []
    finally:
        store.dispose()
