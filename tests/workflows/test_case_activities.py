"""A closed case marks its Odoo activities done, and a late final charge is billed, through
the applier on a real SQLite file (and PostgreSQL for the tower's close).

What the commands make Odoo do (mail.activity.action_feedback, lines on a draft invoice, a
supplementary invoice or credit note) is tested against the Odoo test server in
tests/connectors/odoo/test_followups.py and test_invoicing.py; here, that the flows send
the right ones, once, with the right markers, amounts and feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from intermodal.config import Settings
from intermodal.dashboard.pages.cases import _close
from intermodal.store import Store, open_store
from intermodal.workflows.timers import TimerWorker
from tests.workflows.helpers import Harness, at, charge, customs, flow_config, milestone, pod
from tests.workflows.helpers import shipment as upserted

DONE = "intermodal.odoo.activity.done"
ADJUST = "intermodal.odoo.invoice.adjust"
ROLES = {"odoo": "odoo-out", "notify": "portal"}


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = open_store(sqlite_url)
    s.migrate()
    yield s
    s.dispose()


def harness(
    make_settings: Callable[..., Settings], url: str, store: Store, **workflows: Any
) -> Harness:
    return Harness(store, flow_config(make_settings, url, roles=ROLES, **workflows))


def command_ids(h: Harness, kind: str, key: str) -> list[str]:
    return [row.command_id for row in h.commands(kind, key)]


def test_a_case_cleared_by_a_milestone_marks_its_activity_done_once(
    make_settings: Callable[..., Settings], sqlite_url: str, store: Store
) -> None:
    h = harness(make_settings, sqlite_url, store)
    key = "CA-1"
    h.send("odoo", upserted(key), milestone(key, "booked", at(8)))
    h.send("carrier", milestone(key, "delivery_failed", at(10), reason="nobody home"))
    (case,) = h.cases(key)
    # The failed attempt's milestone command carries the activity (the connector's policy).
    (failed,) = [
        p
        for p in h.payloads("intermodal.shipment.milestone", key)
        if p["data"]["milestone"] == "delivery_failed"
    ]
    links = h.document(key)["flows"]["case_activities"]
    assert links == {case.case_id: {"flow": "exceptions", "markers": [failed["id"]]}}
    h.send("carrier", milestone(key, "delivered", at(15)))
    (done,) = h.payloads(DONE, key)
    assert done["data"]["markers"] == [failed["id"]]
    assert done["data"]["feedback"] == (
        "Resolved: delivered reported by carrier at 2026-11-23 15:00 UTC "
        "(the hub closed the delivery failed case)."
    )
    assert h.commands(DONE, key)[0].endpoint == "odoo-out"
    assert h.document(key)["flows"]["case_activities"] == {}
    h.send("carrier", milestone(key, "delivered", at(15, 30)))  # nothing left to close
    assert len(h.payloads(DONE, key)) == 1


def test_an_activity_asked_for_while_the_case_is_open_is_the_cases_too(
    make_settings: Callable[..., Settings], sqlite_url: str, store: Store
) -> None:
    """A broker's hold without its milestone: the case opens on customs.updated, the
    activity comes on the next shipment.changed (customs flow), the release closes both."""
    h = harness(make_settings, sqlite_url, store)
    key = "CA-2"
    h.send("odoo", upserted(key), milestone(key, "booked", at(8)))
    h.send("broker", customs(key, "hold", at(9), reason="missing invoice"))
    (case,) = h.cases(key)
    (activity,) = command_ids(h, "intermodal.odoo.activity.create", key)
    assert h.document(key)["flows"]["case_activities"][case.case_id]["markers"] == [activity]
    # The carrier reports the hold afterwards: that milestone's own activity is the case's.
    h.send("carrier", milestone(key, "customs_hold", at(10), reason="missing invoice"))
    (hold,) = [
        p["id"]
        for p in h.payloads("intermodal.shipment.milestone", key)
        if p["data"]["milestone"] == "customs_hold"
    ]
    h.send("broker", customs(key, "released", at(11)))
    (done,) = h.payloads(DONE, key)
    assert done["data"]["markers"] == [activity, hold]
    assert done["data"]["feedback"].startswith("Resolved: customs released reported by broker")


def test_a_case_closed_in_the_tower_marks_its_activity_done_with_the_note(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    store = open_store(db_url)
    store.migrate()
    try:
        h = harness(make_settings, db_url, store)
        key = "CA-3"
        h.send("odoo", upserted(key), milestone(key, "booked", at(8)))
        h.send("carrier", charge(key, "FRT", "1000.00", "provisional", at(8)))
        h.send("carrier", milestone(key, "delivered", at(10)), pod(key, at(10)))
        h.send("carrier", charge(key, "FRT", "1070.00", "final", at(11)))  # +7%: a dispute
        (case,) = h.cases(key)
        (activity,) = command_ids(h, "intermodal.odoo.activity.create", key)
        assert _close(store, case.case_id, "tower:alice", "Carrier agreed to\n1,020.00") is True
        worker = TimerWorker(store)
        assert worker.post_closed_cases() == 1
        h.apply()
        (done,) = h.payloads(DONE, key)
        assert done["data"]["markers"] == [activity]
        feedback = done["data"]["feedback"]
        assert feedback.startswith(
            "The billing dispute case was closed in the control tower by alice at "
        )
        assert feedback.endswith("\nCarrier agreed to\n1,020.00")
        assert len(h.payloads("intermodal.odoo.invoice.create", key)) == 1  # released
        assert TimerWorker(store).post_closed_cases() == 0
        h.apply()
        assert len(h.payloads(DONE, key)) == 1
    finally:
        store.dispose()


def test_a_case_without_an_activity_sends_nothing_to_odoo(
    make_settings: Callable[..., Settings], sqlite_url: str, store: Store
) -> None:
    """no_rate holds the invoice without an Odoo activity: closing it marks nothing."""
    h = harness(make_settings, sqlite_url, store)
    key = "CA-4"
    h.send("odoo", upserted(key), milestone(key, "booked", at(8)))
    h.send(
        "carrier",
        milestone(key, "delivered", at(10)),
        pod(key, at(10)),
        charge(key, "FRT", "900.00", "final", at(10), currency="EUR"),
    )
    (case,) = h.cases(key)
    assert case.kind == "no_rate"
    _close(store, case.case_id, "tower:bob", "")
    TimerWorker(store).post_closed_cases()
    h.apply()
    assert h.payloads(DONE, key) == []


def invoiced(h: Harness, key: str) -> None:
    h.send("odoo", upserted(key), milestone(key, "booked", at(8)))
    h.send("carrier", charge(key, "FRT", "1000.00", "provisional", at(8)))
    h.send(
        "carrier",
        milestone(key, "delivered", at(10)),
        pod(key, at(10)),
        charge(key, "FRT", "1010.00", "final", at(11)),
        charge(key, "FUEL", "50.00", "final", at(11), kind="fuel"),
    )
    assert len(h.payloads("intermodal.odoo.invoice.create", key)) == 1


def test_late_final_charges_are_billed_as_adjustments_of_the_invoice(
    make_settings: Callable[..., Settings], sqlite_url: str, store: Store
) -> None:
    products = {"FRT": "FTL", "accessorial": "HANDLING"}
    h = harness(make_settings, sqlite_url, store, billing={"products": products})
    key = "LC-1"
    invoiced(h, key)
    (invoice,) = h.payloads("intermodal.odoo.invoice.create", key)
    assert invoice["data"]["products"] == {"FRT": "FTL"}  # fuel: no product configured
    h.send("carrier", charge(key, "DET", "75.00", "final", at(14), kind="accessorial"))
    h.send("carrier", charge(key, "FRT", "980.00", "final", at(15)))  # corrected downwards
    h.send("carrier", charge(key, "FRT", "980.00", "final", at(16)))  # the same again: nothing
    h.send("carrier", charge(key, "FUEL", "60.00", "provisional", at(16), kind="fuel"))
    first, second = h.payloads(ADJUST, key)
    assert first["data"]["invoice"] == key and first["data"]["reference"] == f"{key}-ADJ1"
    assert first["data"]["lines"] == [
        {"code": "DET", "kind": "accessorial", "amount": "75.00", "product": "HANDLING"}
    ]
    assert first["data"]["customer"]["reference"] == "ACME-1" and first["data"]["post"] is True
    assert first["data"]["separate"] is False
    assert second["data"]["reference"] == f"{key}-ADJ2"
    assert [
        (ln["code"], Decimal(ln["amount"]), ln["product"]) for ln in second["data"]["lines"]
    ] == [("FRT", Decimal("-30.00"), "FTL")]
    billed = h.document(key)["flows"]["billed"][key]
    assert {c: Decimal(v["amount"]) for c, v in billed["charges"].items()} == {
        "FRT": Decimal("980.00"),
        "FUEL": Decimal("50.00"),
        "DET": Decimal("75.00"),
    }
    assert billed["adjustments"] == 2


@pytest.mark.parametrize(("policy", "expected"), [("report", None), ("separate", True)])
def test_the_late_charge_policy_decides(
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    store: Store,
    policy: str,
    expected: bool | None,
) -> None:
    h = harness(make_settings, sqlite_url, store, billing={"late_charges": policy})
    key = f"LC-{policy}"
    invoiced(h, key)
    h.send("carrier", charge(key, "DET", "75.00", "final", at(14), kind="accessorial"))
    adjustments = h.payloads(ADJUST, key)
    if expected is None:
        assert adjustments == []
    else:
        (adjustment,) = adjustments
        assert adjustment["data"]["separate"] is expected


def test_a_bad_late_charge_policy_is_a_configuration_error(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    with pytest.raises(Exception, match="late_charges"):
        flow_config(make_settings, sqlite_url, billing={"late_charges": "ignore"})
    with pytest.raises(Exception, match="products"):
        flow_config(make_settings, sqlite_url, billing={"products": {"FRT": "has space"}})
