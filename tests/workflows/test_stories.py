"""Order to cash across the hub, the Odoo test server and the TMS simulator, over real HTTP,
asserting the final Odoo records exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intermodal.config import Settings
from intermodal.testing import wait_until
from tests.workflows.story import Story, charge, pod, story


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
    return {"order": order, "pickings": pickings, "moves": moves, "lines": lines,
            "activities": activities}  # fmt: skip


def test_happy_path_from_order_to_posted_invoice(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    key = "PO-HAPPY-1"
    with story(make_settings, sqlite_url) as s:
        order_id = s.confirm_order(key)
        wait_until(lambda: s.tms.script.load_of(key) is not None)
        s.carrier_sends(charge(key, "FREIGHT", "freight", "1500.00", "provisional", "q-1"))
        wait_until(lambda: s.state(key) == "delivered", timeout=30)
        s.carrier_sends(
            charge(key, "FREIGHT", "freight", "1520.00", "final", "f-1"),
            charge(key, "FUEL", "fuel", "182.40", "final", "f-2"),
            pod(key, "pod-1"),
        )
        s.wait_delivered("intermodal.odoo.invoice.create", key)
        s.wait_quiet()
        odoo = _final_odoo(s, key)
        load = s.tms.script.load_of(key)
        assert load is not None

    assert odoo["order"]["state"] == "sale" and odoo["order"]["id"] == order_id
    assert [(p["state"], p["carrier_tracking_ref"]) for p in odoo["pickings"]] == [
        ("done", load.load_id)
    ]
    (move,) = odoo["moves"]
    assert (move["state"], move["move_type"], move["amount_total"]) == ("posted", "out_invoice",
                                                                        1702.40)  # fmt: skip
    assert move["partner_id"][0] == odoo["order"]["partner_id"][0]
    assert move["invoice_origin"] == odoo["order"]["name"]
    assert sorted((ln["name"], ln["price_unit"], ln["quantity"]) for ln in odoo["lines"]) == [
        ("freight: FREIGHT", 1520.0, 1.0),
        ("fuel: FUEL", 182.4, 1.0),
    ]
    assert odoo["activities"] == []
    assert s.dead() == []
    notified = sorted(p["data"]["milestone"] for p in s.portal.applied.values())
    assert notified == ["delivered", "picked_up"]
