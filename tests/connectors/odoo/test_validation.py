"""Validating deliveries (connectors/odoo/validation.py) against the Odoo test server, on
JSON-2 (Odoo 19) and JSON-RPC (Odoo 18): the reported quantities on the moves, Odoo's
backorder wizard answered by policy, the result read back, and what Odoo did not do
reported as a follow-up for the flows. The Odoo side imitates stock_picking.py
`button_validate`, stock_backorder_confirmation.py `process`/`process_cancel_backorder`.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from intermodal.connectors.odoo.sink import OdooSink
from intermodal.outbox.sinks import Result
from intermodal_sim.odoo.stock import ZERO_QUANTITY
from intermodal_sim.odoo.testing import RunningSim
from tests.connectors.odoo.helpers import command, endpoint, order, replayed


def wms(subject: str, name: str, quantities: dict[str, float] | None, **data: Any) -> Any:
    """A warehouse's milestone as the flows hand it to Odoo (`odoo_milestone`)."""
    if quantities is not None:
        data["quantities"] = [{"product": p, "quantity": str(q)} for p, q in quantities.items()]
    return command(
        "intermodal.shipment.milestone",
        subject,
        {"milestone": name, "occurred_at": "2026-11-23T10:00:00Z", **data},
        assertedby="wms",
    )


async def deliveries(sink: OdooSink, key: str) -> list[dict[str, Any]]:
    (sale,) = await sink.client.call(
        "sale.order", "search", domain=[["client_order_ref", "=", key]]
    )
    pickings = await sink.client.call(
        "stock.picking", "search_read", domain=[["sale_id", "=", sale]],
        fields=["name", "state", "backorder_id"], order="id asc",
    )  # fmt: skip
    for picking in pickings:
        moves = await sink.client.call(
            "stock.move", "search_read", domain=[["picking_id", "=", picking["id"]]],
            fields=["product_id", "product_uom_qty", "quantity", "state"], order="id asc",
        )  # fmt: skip
        picking["moves"] = sorted(
            (m["product_id"][1].split("]")[0].strip("["), m["product_uom_qty"], m["quantity"],
             m["state"])
            for m in moves
        )  # fmt: skip
    return list(pickings)


def ok(results: list[Result]) -> list[Result]:
    assert [r.error for r in results if not r.ok] == []
    return results


def reported(result: Result) -> dict[str, Any]:
    (follow_up,) = result.follow_ups
    assert (follow_up.partner, follow_up.channel) == ("intermodal", "odoo")
    body: dict[str, Any] = orjson.loads(follow_up.body)
    assert follow_up.message_id == body["id"]
    return body


async def test_a_short_report_leaves_a_backorder_once(sink: OdooSink) -> None:
    """5 crates ordered, 3 left: the delivery is done with 3 and a backorder holds 2
    (`process`); the same command again validates nothing more; the warehouse's next
    report (another command) validates the backorder."""
    ok(await sink.write([order("VAL-1")]))
    short = wms("VAL-1", "picked_up", {"CRATE": 3})
    (result,) = ok(await sink.write([short]))
    assert result.follow_ups == ()
    first, backorder = await deliveries(sink, "VAL-1")
    assert first["state"] == "done" and first["moves"] == [("CRATE", 3, 3, "done")]
    assert backorder["backorder_id"][0] == first["id"] and backorder["state"] == "assigned"
    assert backorder["moves"] == [("CRATE", 2, 2, "assigned")]
    notes = await sink.client.call(
        "mail.message", "search_read",
        domain=[["model", "=", "stock.picking"], ["res_id", "=", first["id"]],
                ["body", "ilike", "intermodal validates"]],
        fields=["body"],
    )  # fmt: skip
    assert len(notes) == 1 and "CRATE 3" in notes[0]["body"] and "wms" in notes[0]["body"]
    # a replay (a crash before the acknowledgement) must not validate the backorder
    ok(await sink.write([replayed(short)]))
    assert [p["state"] for p in await deliveries(sink, "VAL-1")] == ["done", "assigned"]
    # the rest leaves later: the next report validates the backorder, in full
    (rest,) = ok(await sink.write([wms("VAL-1", "picked_up", {"CRATE": 2})]))
    assert rest.follow_ups == ()
    assert [p["state"] for p in await deliveries(sink, "VAL-1")] == ["done", "done"]


async def test_the_cancel_policy_per_partner_and_who_may_validate(
    sim: RunningSim, protocol: str
) -> None:
    """`backorder_by_partner: {wms: cancel}`: `process_cancel_backorder`, no backorder;
    `validate_from: [wms]`: the carrier's pickup validates nothing; a product the delivery
    does not have is a finding; an order of services has no delivery and asks nothing."""
    options = {"backorder_by_partner": {"wms": "cancel"}, "validate_from": ["wms"]}
    async with httpx.AsyncClient() as http:
        sink = OdooSink(endpoint(sim, protocol, **options), http)
        ok(await sink.write([order("VAL-2"), order("VAL-3", lines=[{"product": "FTL"}])]))
        carrier = command("intermodal.shipment.milestone", "VAL-2",
                          {"milestone": "picked_up", "occurred_at": "2026-11-23T09:00:00Z"},
                          assertedby="carrier-x")  # fmt: skip
        ok(await sink.write([carrier]))
        assert [p["state"] for p in await deliveries(sink, "VAL-2")] == ["assigned"]
        (result, services) = ok(
            await sink.write(
                [
                    wms("VAL-2", "picked_up", {"CRATE": 4, "GHOST-9": 1}),
                    wms("VAL-3", "picked_up", {"CRATE": 1}, tracking_number="TRK-3"),
                ]
            )
        )
        (only,) = await deliveries(sink, "VAL-2")
        assert only["state"] == "done" and only["moves"] == [("CRATE", 5, 4, "done")]
        body = reported(result)
        assert body["subject"] == "VAL-2" and body["endpoint"] == "odoo"
        assert "GHOST-9" in body["reason"] and only["name"] in body["reason"]
        assert body["detail"]["pickings"] == [only["name"]]
        # the order of services: nothing to validate, no tracking to write, nothing awaited
        assert services.follow_ups == () and await deliveries(sink, "VAL-3") == []


async def test_what_odoo_refuses_is_reported_not_dead_lettered(sink: OdooSink) -> None:
    """Nothing picked: Odoo's UserError (`_sanity_check`) becomes a finding with Odoo's
    words; the command is delivered. An order not confirmed yet is asked again later."""
    ok(await sink.write([order("VAL-4")]))
    refused = wms("VAL-4", "picked_up", {"CRATE": 0})
    (result,) = ok(await sink.write([refused]))
    body = reported(result)
    # unpicked, the crates went back to waiting (stock_move.py `_recompute_state`)
    assert ZERO_QUANTITY in body["reason"] and "still confirmed: Odoo refused" in body["reason"]
    assert body["id"] == f"odoo:{refused.command_id}"
    (again,) = ok(await sink.write([replayed(refused)]))  # the same finding, the same id
    assert reported(again)["id"] == body["id"]
    ok(await sink.write([order("VAL-5", confirm=False)]))
    (waiting,) = await sink.write([wms("VAL-5", "picked_up", {"CRATE": 5})])
    assert not waiting.ok and waiting.retryable and "not confirmed yet" in (waiting.error or "")


async def test_quantities_spread_over_moves_and_unnamed_products_are_not_picked(
    sink: OdooSink,
) -> None:
    """Two lines of crates and one of cartons: 6 crates fill the first line's 5 and give
    the second 1; cartons, not named, stay (their demand goes to the backorder)."""
    lines = [{"product": "CRATE", "quantity": 5}, {"product": "CRATE", "quantity": 2},
             {"product": "CARTON", "quantity": 4}]  # fmt: skip
    ok(await sink.write([order("VAL-6", lines=lines)]))
    ok(await sink.write([wms("VAL-6", "picked_up", {"CRATE": 6})]))
    first, backorder = await deliveries(sink, "VAL-6")
    assert first["moves"] == [("CRATE", 1, 1, "done"), ("CRATE", 5, 5, "done")]
    assert backorder["moves"] == [("CARTON", 4, 4, "assigned"), ("CRATE", 1, 1, "assigned")]
