"""Every mapping against the Odoo test server, on JSON-2 (Odoo 19) and JSON-RPC (Odoo 18).

Each test also replays its commands as the dispatcher would after a crash or a retry
(`replayed`: same command id, `maybe_sent`), and checks Odoo still holds one application.
"""

from __future__ import annotations

from typing import Any

from intermodal.connectors.odoo.ops import Ref, Upsert
from intermodal.connectors.odoo.sink import OdooSink
from intermodal.connectors.odoo.writer import Work
from intermodal.outbox.sinks import ClaimedCommand
from intermodal_sim.odoo.testing import RunningSim
from tests.connectors.odoo.helpers import CUSTOMER, command, milestone, order, replayed


async def read(sink: OdooSink, model: str, domain: list[Any], fields: list[str]) -> list[Any]:
    rows = await sink.client.call(
        model, "search_read", domain=domain, fields=fields, context={"active_test": False}
    )
    return list(rows)


async def write_ok(sink: OdooSink, commands: list[ClaimedCommand]) -> None:
    results = await sink.write(commands)
    assert [r.error for r in results if not r.ok] == []


async def test_order_intake_creates_customer_and_confirmed_order_once(sink: OdooSink) -> None:
    commands = [order("SHP-1", commitment_date="2026-12-01T08:00:00Z"), order("SHP-2")]
    await write_ok(sink, commands)
    await write_ok(sink, [replayed(c) for c in commands])

    orders = await read(
        sink,
        "sale.order",
        [["client_order_ref", "in", ["SHP-1", "SHP-2"]]],
        ["state", "partner_id", "amount_total", "commitment_date", "picking_ids"],
    )
    assert len(orders) == 2
    assert {o["state"] for o in orders} == {"sale"}
    assert {o["amount_total"] for o in orders} == {3000.0}
    assert all(o["picking_ids"] for o in orders)  # confirming created the deliveries
    partners = await read(sink, "res.partner", [["ref", "=", "ACME-1"]], ["name", "city", "email"])
    assert len(partners) == 1
    assert partners[0]["city"] == "Boston"
    assert {o["partner_id"][0] for o in orders} == {partners[0]["id"]}


async def test_partner_upsert_customers_and_carriers(sink: OdooSink) -> None:
    carrier = {"role": "carrier", "name": "Fast Freight", "reference": "CAR-9", "phone": "+1 555"}
    archived = {"role": "customer", "name": "Old Freight Ltd (renamed)", "reference": "OF-999"}
    commands = [
        command("intermodal.odoo.partner.upsert", "parties", CUSTOMER),
        command("intermodal.odoo.partner.upsert", "parties", carrier),
        command("intermodal.odoo.partner.upsert", "parties", archived),
    ]
    await write_ok(sink, commands)
    await write_ok(sink, [replayed(c) for c in commands])
    rows = await read(
        sink,
        "res.partner",
        [["ref", "in", ["ACME-1", "CAR-9", "OF-999"]]],
        ["ref", "name", "supplier_rank", "customer_rank", "active"],
    )
    by_ref = {r["ref"]: r for r in rows}
    assert len(rows) == 3  # the archived customer was found, not created again
    assert by_ref["CAR-9"]["supplier_rank"] == 1
    assert by_ref["ACME-1"]["customer_rank"] == 1
    assert by_ref["OF-999"]["name"] == "Old Freight Ltd (renamed)"


async def test_milestones_validate_pickings_note_the_chatter_and_open_activities(
    sink: OdooSink,
) -> None:
    await write_ok(sink, [order("SHP-1"), order("SHP-2")])
    first = [
        milestone("SHP-1", "picked_up", tracking_number="TRK-1"),
        milestone("SHP-2", "exception", reason="Container held at gate"),
    ]
    second = [milestone("SHP-1", "delivered", "2026-11-24T09:30:00Z")]
    await write_ok(sink, first)
    await write_ok(sink, second)
    await write_ok(sink, [replayed(c) for c in first + second])

    orders = {
        o["client_order_ref"]: o["id"]
        for o in await read(
            sink,
            "sale.order",
            [["client_order_ref", "in", ["SHP-1", "SHP-2"]]],
            ["client_order_ref"],
        )
    }
    pickings = await read(
        sink,
        "stock.picking",
        [["sale_id", "in", list(orders.values())]],
        ["sale_id", "state", "carrier_tracking_ref"],
    )
    by_order = {p["sale_id"][0]: p for p in pickings}
    assert by_order[orders["SHP-1"]]["state"] == "done"
    assert by_order[orders["SHP-1"]]["carrier_tracking_ref"] == "TRK-1"
    assert by_order[orders["SHP-2"]]["state"] != "done"

    notes = await read(
        sink,
        "mail.message",
        [["model", "=", "sale.order"], ["body", "ilike", "intermodal:"]],
        ["res_id", "body", "subtype_id"],
    )
    # By default only what a person must act on is noted (one message_post per order):
    # the pickup and the delivery reach Odoo as the picking's state and tracking instead.
    assert [n["res_id"] for n in notes] == [orders["SHP-2"]]
    assert "Container held at gate" in notes[0]["body"] and "carrier-x" in notes[0]["body"]
    activities = await read(
        sink, "mail.activity", [["res_model", "=", "sale.order"]], ["res_id", "summary", "note"]
    )
    assert [(a["res_id"], a["summary"]) for a in activities] == [
        (orders["SHP-2"], "Shipment SHP-2: exception")
    ]
    assert "Container held at gate" in activities[0]["note"]


async def test_picking_update_sets_carrier_tracking_and_dates(sink: OdooSink) -> None:
    await write_ok(sink, [order("SHP-7")])
    update = command(
        "intermodal.odoo.picking.update",
        "SHP-7",
        {
            "carrier": "DHL Express",
            "tracking_reference": "JD0146",
            "scheduled_date": "2026-11-25T07:00:00+01:00",
            "date_deadline": "2026-11-27T18:00:00Z",
        },
    )
    await write_ok(sink, [update])
    (picking,) = await read(
        sink,
        "stock.picking",
        [["sale_id.client_order_ref", "=", "SHP-7"]],
        ["carrier_id", "carrier_tracking_ref", "scheduled_date", "date_deadline", "state"],
    )
    assert picking["carrier_id"][1] == "DHL Express"
    assert picking["carrier_tracking_ref"] == "JD0146"
    assert picking["scheduled_date"] == "2026-11-25 06:00:00"
    assert picking["date_deadline"] == "2026-11-27 18:00:00"


async def test_invoice_one_line_per_charge_in_its_currency_created_once(sink: OdooSink) -> None:
    charges = [
        {"code": "FRT", "kind": "freight", "description": "Ocean freight",
         "amount": {"amount": "1200.50", "currency": "EUR"}, "status": "final"},
        {"code": "FSC", "kind": "fuel", "amount": {"amount": "99.5", "currency": "EUR"},
         "status": "final"},
    ]  # fmt: skip
    invoice = command(
        "intermodal.odoo.invoice.create",
        "SHP-3",
        {
            "reference": "INV-SHP-3",
            "customer": CUSTOMER,
            "currency": "EUR",
            "charges": charges,
            "invoice_date": "2026-11-23",
            "post": True,
        },
    )
    await write_ok(sink, [invoice])
    await write_ok(sink, [replayed(invoice), replayed(invoice)])
    moves = await read(
        sink,
        "account.move",
        [["ref", "=", "INV-SHP-3"]],
        ["state", "move_type", "currency_id", "amount_total", "invoice_line_ids", "invoice_origin"],
    )
    assert len(moves) == 1
    move = moves[0]
    assert (move["state"], move["move_type"], move["currency_id"][1]) == (
        "posted",
        "out_invoice",
        "EUR",
    )
    assert move["amount_total"] == 1300.0
    assert len(move["invoice_line_ids"]) == 2
    assert move["invoice_origin"] == "SHP-3"


async def test_bad_commands_fail_alone_with_the_reason(sink: OdooSink) -> None:
    good = [order(f"SHP-G{i}") for i in range(6)]
    unknown_product = command(
        "intermodal.odoo.order.upsert",
        "SHP-BAD",
        {"customer": CUSTOMER, "lines": [{"product": "NO-SUCH-CODE"}]},
    )
    not_a_command = command("intermodal.odoo.unknown", "SHP-X", {})
    results = await sink.write([*good[:3], unknown_product, not_a_command, *good[3:]])
    assert [r.ok for r in results] == [True, True, True, False, False, True, True, True]
    assert "product.product" in (results[3].error or "") and not results[3].retryable
    assert "no Odoo mapping" in (results[4].error or "") and not results[4].retryable


async def test_a_party_named_by_a_missing_odoo_id_is_not_created(sink: OdooSink) -> None:
    ghost = {"role": "customer", "name": "Ghost", "odoo_partner_id": 999_999}
    (result,) = await sink.write([command("intermodal.odoo.partner.upsert", "parties", ghost)])
    assert not result.ok and not result.retryable
    assert "res.partner with id 999999" in (result.error or "")
    assert await read(sink, "res.partner", [["name", "=", "Ghost"]], ["id"]) == []


async def test_a_record_odoo_rejects_is_bisected_out_of_its_batch(
    sink: OdooSink, sim: RunningSim
) -> None:
    """16 creates in one call; Odoo refuses one (its parent does not exist): 15 go through.

    Bisecting costs about 2 * log2(n) calls for one bad record instead of n calls.
    """
    works = [
        Work([Upsert(Ref("res.partner", "ref", f"C-{i:03d}"), {"name": f"Customer {i}"})])
        for i in range(16)
    ]
    works[11] = Work(
        [Upsert(Ref("res.partner", "ref", "C-BAD"), {"name": "X", "parent_id": 999_999})]
    )
    sim.server.reset_counts()
    await sink.writer.execute(works)
    outcomes = [w.outcome for w in works]
    assert [o.ok for o in outcomes].count(False) == 1
    assert not outcomes[11].ok and not outcomes[11].retryable
    assert "res.partner.create" in (outcomes[11].error or "")
    created = await read(sink, "res.partner", [["ref", "=like", "C-%"]], ["ref"])
    assert len(created) == 15
    creates = sim.server.call_counts()["calls"][sink.client.protocol or ""]["res.partner"]["create"]
    assert creates <= 1 + 2 * 4
