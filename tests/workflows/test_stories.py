"""Order to cash across the hub, the Odoo test server and the TMS simulator, over real HTTP,
asserting the final Odoo records exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from intermodal.config import Settings
from intermodal_sim.customs.app import CustomsScript, Hold
from intermodal_sim.testing import wait_until
from intermodal_sim.tms.app import TmsScript
from tests.workflows.story import Story, charge, customs, pod, story


def _final_odoo(s: Story, key: str) -> dict[str, Any]:
    (order,) = s.read("sale.order", [["client_order_ref", "=", key]],
                      ["name", "state", "partner_id", "picking_ids"])  # fmt: skip
    pickings = s.read("stock.picking", [["sale_id", "=", order["id"]]],
                      ["state", "carrier_tracking_ref"])  # fmt: skip
    moves = s.read("account.move", [["ref", "=", key]],
                   ["state", "move_type", "partner_id", "amount_total", "currency_id",
                    "invoice_origin", "invoice_line_ids"])  # fmt: skip
    lines = s.read("account.move.line", [["move_id", "in", [m["id"] for m in moves]],
                                         ["display_type", "=", "product"]],
                   ["name", "price_unit", "quantity"]) if moves else []  # fmt: skip
    activities = s.read("mail.activity", [["res_model", "=", "sale.order"],
                                          ["res_id", "=", order["id"]]], ["summary"])  # fmt: skip
    # What the activities marked done left on the order (mail_activity.py _action_done).
    done = s.read("mail.message", [["model", "=", "sale.order"], ["res_id", "=", order["id"]],
                                   ["subtype_id.name", "=", "Activities"]], ["body"])  # fmt: skip
    return {"order": order, "pickings": pickings, "moves": moves, "lines": lines,
            "activities": activities, "done": [d["body"] for d in done]}  # fmt: skip


FINAL = (("FREIGHT", "freight", "1520.00"), ("FUEL", "fuel", "182.40"))
LINES = [("freight: FREIGHT", 1520.0, 1.0), ("fuel: FUEL", 182.4, 1.0)]


def _quote_and_deliver(s: Story, key: str, timeout: float = 30.0) -> None:
    """The order is confirmed in Odoo, quoted at booking and driven to delivery by the TMS."""
    s.confirm_order(key)
    wait_until(lambda: s.tms.script.load_of(key) is not None, timeout=timeout)
    s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", f"{key}-q"))
    wait_until(lambda: s.state(key) == "delivered", timeout=timeout)


def _settle(s: Story, key: str, final: tuple[tuple[str, str, str], ...] = FINAL) -> None:
    s.carrier_sends(
        *(charge(key, code, kind, amount, "final", f"{key}-f-{code}")
          for code, kind, amount in final),
        pod(key, f"{key}-pod"),
    )  # fmt: skip


def _assert_invoiced(s: Story, odoo: dict[str, Any], key: str, total: float = 1702.40,
                     lines: list[Any] = LINES) -> None:  # fmt: skip
    """The final Odoo records of a shipment invoiced once, exactly."""
    load = s.tms.script.load_of(key)
    assert load is not None
    assert odoo["order"]["state"] == "sale"
    assert [(p["state"], p["carrier_tracking_ref"]) for p in odoo["pickings"]] == [
        ("done", load.load_id)
    ]
    (move,) = odoo["moves"]
    assert (move["state"], move["move_type"], move["amount_total"]) == (
        "posted", "out_invoice", total,
    )  # fmt: skip
    assert move["partner_id"][0] == odoo["order"]["partner_id"][0]
    assert move["invoice_origin"] == odoo["order"]["name"]
    assert sorted((ln["name"], ln["price_unit"], ln["quantity"]) for ln in odoo["lines"]) == lines
    assert len(s.commands("intermodal.odoo.invoice.create", key)) == 1
    assert s.dead() == []


def test_happy_path_from_order_to_posted_invoice(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    key = "PO-HAPPY-1"
    with story(make_settings, db_url) as s:
        _quote_and_deliver(s, key)
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        odoo = _final_odoo(s, key)
        _assert_invoiced(s, odoo, key)
        assert odoo["activities"] == [] and s.cases(key) == []
        notified = sorted(p["data"]["milestone"] for p in s.portal.applied.values())
        assert notified == ["delivered", "picked_up"]
        (job,) = s.commands("intermodal.dispatch.requested", key)
        assert (job.endpoint, job.status, job.attempts) == ("tms-jobs", "delivered", 1)
        # The order's addresses, read from Odoo at intake, are the job's stops.
        stops = orjson.loads(job.payload)["data"]["shipment"]["stops"]
        assert [(st["kind"], st["address"], st["party"]["name"]) for st in stops] == [
            ("pickup", {"country": "US"}, "Intermodal Demo Freight"),
            ("delivery", {"country": "US", "street": "4557 De Silva St", "city": "Fremont",
                          "postal_code": "94538", "region": "CA"}, "Azure Interior"),
        ]  # fmt: skip
        load = s.tms.script.load_of(key)
        assert load is not None and load.destination.city == "Fremont"


def test_happy_path_with_x12_tender_and_214_statuses(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The dispatch job is an X12 204 to the TMS's EDI endpoint; the TMS answers with a 990
    and reports its statuses as 214s, which the hub's EDI intake maps to milestones."""
    key = "PO-X12-1"
    with story(make_settings, sqlite_url, script=TmsScript(reply="x12"), tms_mode="x12") as s:
        _quote_and_deliver(s, key)
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        _assert_invoiced(s, _final_odoo(s, key), key)
        (job,) = s.commands("intermodal.dispatch.requested", key)
        assert bytes(job.payload).startswith(b"ISA*") and job.status == "delivered"
        load = s.tms.script.load_of(key)
        assert load is not None and load.channel == "x12"
        sent = {r.kind for r in s.tms.link.reports}
        assert {"990", "214"} <= sent


def test_carrier_outage_delays_dispatch_and_changes_nothing_else(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The TMS (the carrier's dispatch) refuses connections when the job is sent: the job is
    retried until it is back, and the story ends exactly as the happy path."""
    key = "PO-OUTAGE-1"
    with story(make_settings, sqlite_url, tms_up=False) as s:
        s.confirm_order(key)
        wait_until(lambda: any(c.attempts >= 2 for c in
                               s.commands("intermodal.dispatch.requested", key)))  # fmt: skip
        assert s.tms.script.load_of(key) is None
        s.start_tms()
        wait_until(lambda: s.tms.script.load_of(key) is not None, timeout=30)
        s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", f"{key}-q"))
        wait_until(lambda: s.state(key) == "delivered", timeout=30)
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        _assert_invoiced(s, _final_odoo(s, key), key)
        (job,) = s.commands("intermodal.dispatch.requested", key)
        assert job.status == "delivered" and job.attempts >= 2
        assert len(s.tms.script.snapshot()["loads"]) == 1


def test_odoo_down_mid_flow(make_settings: Callable[..., Settings], sqlite_url: str) -> None:
    """Odoo answers 503 to everything for 20 s while the TMS reports the load's progress:
    every Odoo command waits, retries and lands once, in order, and the story ends exactly
    as the happy path."""
    key = "PO-ODOO-DOWN"
    script = TmsScript(reply="json", step_delay_ms=300)
    with story(make_settings, sqlite_url, script=script,
               delivery={"breaker_failures": 3, "breaker_reset_seconds": 1.0}) as s:  # fmt: skip
        s.confirm_order(key)
        wait_until(lambda: s.tms.script.load_of(key) is not None)
        s.odoo.set_faults("down=20s")
        s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", f"{key}-q"))
        wait_until(lambda: s.state(key) == "delivered", timeout=30)
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key, timeout=120)
        s.wait_quiet()
        s.odoo.set_faults(None)
        _assert_invoiced(s, _final_odoo(s, key), key)
        retried = [c for c in s.commands("intermodal.shipment.milestone", key) if c.attempts > 1]
        assert retried, "some Odoo commands met the outage and were retried"


def test_duplicated_proof_of_delivery(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    key = "PO-DUP-POD"
    with story(make_settings, sqlite_url) as s:
        _quote_and_deliver(s, key)
        s.carrier_sends(pod(key, f"{key}-pod"), pod(key, f"{key}-pod"))  # same id twice
        s.carrier_sends(pod(key, f"{key}-pod-resent"))  # the same POD under a new id
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.carrier_sends(pod(key, f"{key}-pod-late"))  # and once more after the invoice
        s.wait_quiet()
        _assert_invoiced(s, _final_odoo(s, key), key)


def test_milestones_out_of_order(make_settings: Callable[..., Settings], sqlite_url: str) -> None:
    """The TMS reports delivered before in_transit and repeats a status: the picking still
    ends done with its tracking reference, and the late in_transit changes nothing."""
    key = "PO-REORDER"
    script = TmsScript(reply="json", load_faults={key: {"reorder", "duplicates"}})
    with story(make_settings, sqlite_url, script=script) as s:
        _quote_and_deliver(s, key)
        wait_until(lambda: len((s.tms.script.load_of(key) or _NoLoad).steps) >= 5)
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        _assert_invoiced(s, _final_odoo(s, key), key)
        assert s.state(key) == "delivered"
        notes = [c for c in s.commands("intermodal.shipment.milestone", key)]
        assert "in_transit" not in {orjson.loads(c.payload)["data"]["milestone"] for c in notes}


def test_customs_hold_then_release(make_settings: Callable[..., Settings], sqlite_url: str) -> None:
    key = "PO-CUSTOMS"
    with story(make_settings, sqlite_url) as s:
        s.confirm_order(key)
        s.broker_sends(customs(key, "hold", f"{key}-hold", reason="missing commercial invoice"))
        wait_until(lambda: len(s.cases(key)) == 1)
        wait_until(lambda: s.state(key) == "delivered", timeout=30)
        s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", f"{key}-q"))
        _settle(s, key, (*FINAL, ("DUTY", "duty", "75.00")))
        s.wait_settled(key)
        s.wait_quiet()
        assert s.commands("intermodal.odoo.invoice.create", key) == []  # held by customs
        (case,) = s.cases(key)
        assert (case.kind, case.status, case.team) == ("customs_hold", "open", "customs")
        assert case.reason == "held by customs: missing commercial invoice"
        s.broker_sends(customs(key, "released", f"{key}-release"))
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        odoo = _final_odoo(s, key)
        # Domestic (no incoterm): the duty is the customer's, a line of its invoice.
        _assert_invoiced(s, odoo, key, 1777.40, sorted([*LINES, ("duty: DUTY", 75.0, 1.0)]))
        # The release closed the case, and its Odoo activity is done (action_feedback).
        assert odoo["activities"] == []
        (done,) = odoo["done"]
        assert f"Shipment {key}: held by customs" in done
        assert "Resolved: customs released reported by broker" in done
        (case,) = s.cases(key)
        assert case.status == "closed"
        held = [p["data"] for p in s.portal.applied.values()
                if p["data"]["event"] == "customs.updated"]  # fmt: skip
        assert [(d["state"], d["reason"]) for d in held] == [("hold", "missing commercial invoice")]


@pytest.mark.parametrize("hold", [True, False])
def test_freight_invoice_above_the_quote(
    make_settings: Callable[..., Settings], sqlite_url: str, hold: bool
) -> None:
    """The final freight is 7% above the 1500.00 quote (tolerance 2%): a billing dispute is
    opened with an activity in Odoo; the invoice is held, or created, per configuration."""
    key = f"PO-DISPUTE-{hold}"
    with story(make_settings, sqlite_url, billing={"hold_on_dispute": hold}) as s:
        _quote_and_deliver(s, key)
        _settle(s, key, (("FREIGHT", "freight", "1605.00"), ("FUEL", "fuel", "192.60")))
        wait_until(lambda: len(s.cases(key)) == 1)
        s.wait_settled(key)
        if not hold:
            s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        odoo = _final_odoo(s, key)
        (case,) = s.cases(key)
        assert (case.kind, case.status, case.team) == ("billing_dispute", "open", "billing")
        assert [a["summary"] for a in odoo["activities"]] == [
            f"Shipment {key}: freight invoice above the quote"
        ]
        if hold:
            assert odoo["moves"] == [] and s.commands("intermodal.odoo.invoice.create", key) == []
        else:
            lines = [("freight: FREIGHT", 1605.0, 1.0), ("fuel: FUEL", 192.6, 1.0)]
            _assert_invoiced(s, odoo, key, 1797.60, lines)


class _NoLoad:
    steps: list[Any] = []


def test_sla_breach_opens_a_case_and_an_activity_and_delivery_closes_it(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The TMS stalls before in_transit; the 2 s SLA timer fires (a durable timer, through
    the inbox): an sla_breach case and an activity on the Odoo order. The late delivery
    closes the case; the invoice goes out as usual."""
    key = "PO-SLA-1"
    script = TmsScript(reply="json", load_faults={key: {"stall"}})
    sla = {"service_levels": {"express": {"expected": {"in_transit": "2s", "delivered": "1d"}}},
           "default_service_level": "express"}  # fmt: skip
    with story(make_settings, sqlite_url, script=script, workflows=sla) as s:
        s.confirm_order(key)
        wait_until(lambda: [c.kind for c in s.cases(key)] == ["sla_breach"], timeout=20)
        (case,) = s.cases(key)
        assert case.status == "open" and case.reason.startswith("in_transit expected by ")
        s.wait_delivered("intermodal.odoo.activity.create", key)
        control = httpx.post(f"http://127.0.0.1:{s.tms_port}/_sim/control",
                             json={"resume": [key]})  # fmt: skip
        assert control.status_code < 300, control.text
        wait_until(lambda: s.state(key) == "delivered", timeout=20)
        s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", f"{key}-q"))
        _settle(s, key)
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        odoo = _final_odoo(s, key)
        _assert_invoiced(s, odoo, key)
        # The delivery closed the case, and its Odoo activity is done (action_feedback).
        assert odoo["activities"] == []
        (done,) = odoo["done"]
        assert f"Shipment {key}: in_transit is late (SLA)" in done
        assert "Resolved: delivered reported by" in done and "sla breach case" in done
        (case,) = s.cases(key)
        assert case.status == "closed"
        told = sorted(p["data"]["event"] for p in s.portal.applied.values())
        assert told == ["milestone.delivered", "milestone.picked_up", "sla.breach"]


def test_cross_border_order_filed_with_the_broker_held_then_released(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """An order to Belgium is filed with the customs broker simulator at booking; the
    broker holds it (its own JSON, through the example mapping: customs.updated and the
    customs_hold milestone); the delivered, settled shipment is not invoiced until the
    broker releases it, which closes the case."""
    key = "PO-XBORDER-1"
    broker = CustomsScript(holds={key: Hold(code="EXAM", reason="physical examination")})
    with story(make_settings, sqlite_url, broker_script=broker) as s:
        s.confirm_order(key, customer_ref="DA-002")  # Deco Addict, Antwerp
        wait_until(lambda: [c.kind for c in s.cases(key)] == ["customs_hold"], timeout=20)
        (filing,) = s.broker.script.snapshot()["filings"]
        assert (filing["shipment_key"], filing["status"]) == (key, "hold")
        wait_until(lambda: s.state(key) == "delivered", timeout=30)
        s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", f"{key}-q"))
        _settle(s, key)
        s.wait_settled(key)
        s.wait_quiet()
        assert s.commands("intermodal.odoo.invoice.create", key) == []
        released = httpx.post(f"{s.broker_url}/_sim/control", json={"release": [key]})
        assert released.json()["released"] == [key]
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        odoo = _final_odoo(s, key)
        _assert_invoiced(s, odoo, key)
        # The release closed the case and marked its Odoo activity done.
        assert odoo["activities"] == []
        (done,) = odoo["done"]
        assert f"Shipment {key}: held by customs" in done and "customs released" in done
        (case,) = s.cases(key)
        assert (case.status, case.team, case.reason) == (
            "closed", "customs", "held by customs: physical examination",
        )  # fmt: skip
        (job,) = s.commands("intermodal.customs.filing", key)
        assert orjson.loads(job.payload)["data"] == {
            "shipment_key": key, "origin_country": "US", "destination_country": "BE",
        }  # fmt: skip


def test_a_refused_tender_reaches_odoo_as_a_note_and_an_activity(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    key = "PO-REFUSED-1"
    script = TmsScript(reply="json", default_decision="decline", decline_reason="NO CAPACITY")
    with story(make_settings, sqlite_url, script=script) as s:
        order_id = s.confirm_order(key)
        wait_until(lambda: [c.kind for c in s.cases(key)] == ["carrier_exception"], timeout=20)
        s.wait_quiet()
        (case,) = s.cases(key)
        assert case.reason == "carrier exception: load tender declined: NO CAPACITY"
        assert s.document(key)["flows"]["order_intake"]["state"] == "refused"
        on_order = [["res_model", "=", "sale.order"], ["res_id", "=", order_id]]
        activities = s.read("mail.activity", on_order, ["summary", "note"])
        assert [a["summary"] for a in activities] == [f"Shipment {key}: exception"]
        assert "load tender declined: NO CAPACITY" in activities[0]["note"]
        notes = s.read("mail.message", [["model", "=", "sale.order"], ["res_id", "=", order_id],
                                        ["body", "ilike", "declined"]], ["body"])  # fmt: skip
        assert len(notes) == 1 and "reported by tms" in notes[0]["body"]
        assert s.commands("intermodal.odoo.invoice.create", key) == []
