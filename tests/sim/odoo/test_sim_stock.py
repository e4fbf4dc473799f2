"""Deliveries in the Odoo test server as Odoo 19 makes and validates them (sim odoo/stock.py).

Each test names the odoo/odoo function it imitates. The sim is the session's one (conftest);
every test makes its own orders, so the tests do not see each other's deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal_sim.odoo.stock import EMPTY_TRANSFER, ZERO_QUANTITY
from intermodal_sim.odoo.testing import RunningSim

Call = Callable[..., httpx.Response]


@pytest.fixture
def ok(json2: Call) -> Callable[..., Any]:
    def call(model: str, method: str, **body: Any) -> Any:
        response = json2(model, method, **body)
        assert response.status_code == 200, response.text
        return response.json()

    return call


@pytest.fixture
def products(ok: Callable[..., Any]) -> dict[str, int]:
    rows = ok("product.product", "search_read", domain=[], fields=["default_code"])
    return {row["default_code"]: row["id"] for row in rows}


def _order(ok: Callable[..., Any], lines: list[tuple[int, float]], ref: str | None = None) -> int:
    values: dict[str, Any] = {
        "partner_id": 9,
        "order_line": [[0, 0, {"product_id": p, "product_uom_qty": q}] for p, q in lines],
    }
    if ref is not None:
        values["client_order_ref"] = ref
    (order,) = ok("sale.order", "create", vals_list=[values])
    ok("sale.order", "action_confirm", ids=[order])
    return int(order)


def _pickings(ok: Callable[..., Any], order: int) -> list[dict[str, Any]]:
    return list(
        ok(
            "stock.picking",
            "search_read",
            domain=[["sale_id", "=", order]],
            fields=["name", "state", "origin", "backorder_id", "backorder_ids", "move_ids"],
            order="id asc",
        )
    )


def _moves(ok: Callable[..., Any], picking: int) -> list[dict[str, Any]]:
    return list(
        ok(
            "stock.move",
            "search_read",
            domain=[["picking_id", "=", picking]],
            fields=[
                "product_id",
                "product_uom_qty",
                "quantity",
                "picked",
                "state",
                "move_line_ids",
            ],
            order="id asc",
        )
    )


def _set(ok: Callable[..., Any], move: int, quantity: float, picked: bool = True) -> None:
    ok("stock.move", "write", ids=[move], vals={"quantity": quantity, "picked": picked})


def test_a_confirmed_order_delivers_its_goods_only(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """sale_stock sale_order_line.py `_action_launch_stock_rule`: lines whose product type
    is not 'consu' are skipped; the origin is '<name> - <client_order_ref>'."""
    order = _order(ok, [(products["FTL"], 1), (products["CRATE"], 5), (products["CUSTOMS"], 1)],
                   ref="SHIP-HOOK-1")  # fmt: skip
    (picking,) = _pickings(ok, order)
    name = ok("sale.order", "read", ids=[order], fields=["name"])[0]["name"]
    assert picking["origin"] == f"{name} - SHIP-HOOK-1"
    (move,) = _moves(ok, picking["id"])
    assert move["product_id"][0] == products["CRATE"] and move["product_uom_qty"] == 5
    # goods whose inventory is not tracked are reserved in full (stock_move.py
    # `_action_assign`, `_should_bypass_reservation`): one move line, the delivery Ready
    assert (move["quantity"], move["state"], len(move["move_line_ids"])) == (5, "assigned", 1)
    assert picking["state"] == "assigned" and picking["backorder_id"] is False
    # without a customer reference the origin is the order's name alone
    plain = _order(ok, [(products["PAL-EUR"], 2)])
    plain_name = ok("sale.order", "read", ids=[plain], fields=["name"])[0]["name"]
    assert _pickings(ok, plain)[0]["origin"] == plain_name


def test_a_service_only_order_gets_no_delivery(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """`_action_launch_stock_rule` procures nothing for services: no picking at all."""
    order = _order(ok, [(products["FCL40"], 2), (products["CUSTOMS"], 1)], ref="SVC-1")
    assert _pickings(ok, order) == []
    read = ok("sale.order", "read", ids=[order], fields=["state", "picking_ids"])[0]
    assert read["state"] == "sale" and read["picking_ids"] == []


def test_product_types_and_is_storable(ok: Callable[..., Any], json2: Call) -> None:
    """product_template.py `type` (consu, service, combo in 18+); stock/models/product.py
    `compute_is_storable`: only goods may track inventory."""
    fields = ok("product.template", "fields_get", allfields=["type", "is_storable"])
    assert [v for v, _ in fields["type"]["selection"]] == ["consu", "service", "combo"]
    assert fields["is_storable"]["type"] == "boolean"
    service_values = {"name": "Svc", "type": "service", "is_storable": True}
    (service,) = ok("product.product", "create", vals_list=[service_values])
    assert ok("product.product", "read", ids=[service], fields=["is_storable"])[0] == {
        "id": service,
        "is_storable": False,
    }
    bad = json2("product.product", "create", vals_list=[{"name": "X", "type": "product"}])
    assert bad.status_code == 500 and "Wrong value" in bad.json()["message"]


def test_a_tracked_product_without_stock_waits(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """`_action_assign`: tracked goods reserve from quants; the test server has none, so the
    move stays 'confirmed' and the delivery Waiting (`_compute_state`)."""
    values = {"name": "Tracked", "default_code": "TRK-1", "type": "consu", "is_storable": True}
    (tracked,) = ok("product.product", "create", vals_list=[values])
    order = _order(ok, [(tracked, 4)])
    (picking,) = _pickings(ok, order)
    (move,) = _moves(ok, picking["id"])
    assert (picking["state"], move["state"], move["quantity"]) == ("confirmed", "confirmed", 0)
    # the warehouse reports what it found: writing the quantity makes move lines
    # (`_set_quantity`), and the move is then reserved in part
    _set(ok, move["id"], 3, picked=False)
    (move,) = _moves(ok, picking["id"])
    assert (move["quantity"], move["state"], len(move["move_line_ids"])) == (
        3, "partially_available", 1)  # fmt: skip
    assert _pickings(ok, order)[0]["state"] == "assigned"


def test_full_quantities_validate_directly(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """stock_picking.py `button_validate`: nothing left behind, no wizard: True; the
    moves are done and picked (`_pre_action_done_hook` marked them), the order line's
    delivered quantity follows (sale_stock `_compute_qty_delivered`)."""
    order = _order(ok, [(products["CRATE"], 5), (products["PAL-EUR"], 2)])
    (picking,) = _pickings(ok, order)
    assert ok("stock.picking", "button_validate", ids=[picking["id"]]) is True
    (done,) = _pickings(ok, order)
    assert done["state"] == "done" and done["backorder_ids"] == []
    assert all(m["state"] == "done" and m["picked"] for m in _moves(ok, picking["id"]))
    lines = ok("sale.order.line", "search_read", domain=[["order_id", "=", order]],
               fields=["qty_delivered"], order="id asc")  # fmt: skip
    assert [ln["qty_delivered"] for ln in lines] == [5, 2]
    # a done transfer is left out by button_validate: validating again is True, not an error
    assert ok("stock.picking", "button_validate", ids=[picking["id"]]) is True


def test_zero_quantities_are_refused_with_odoos_user_error(
    ok: Callable[..., Any], json2: Call, jsonrpc: Callable[..., Any], sim: RunningSim,
    products: dict[str, int],
) -> None:  # fmt: skip
    """stock_picking.py `_sanity_check` and `_get_without_quantities_error_message`."""
    order = _order(ok, [(products["CRATE"], 5), (products["PAL-EUR"], 2)])
    (picking,) = _pickings(ok, order)
    for move in _moves(ok, picking["id"]):
        _set(ok, move["id"], 0, picked=False)
    refused = json2("stock.picking", "button_validate", ids=[picking["id"]])
    assert refused.status_code == 422
    assert refused.json()["name"] == "odoo.exceptions.UserError"
    assert refused.json()["message"] == ZERO_QUANTITY
    assert _pickings(ok, order)[0]["state"] != "done"
    # the same over JSON-RPC: the error envelope names the class and carries the text
    answer = jsonrpc("object", "execute_kw", sim.db, 2, sim.api_key, "stock.picking",
                     "button_validate", [[picking["id"]]])  # fmt: skip
    assert answer["error"]["data"]["name"] == "odoo.exceptions.UserError"
    assert answer["error"]["data"]["message"] == ZERO_QUANTITY
    # a cancelled transfer has no quantity left to move: the same error
    ok("stock.picking", "action_cancel", ids=[picking["id"]])
    again = json2("stock.picking", "button_validate", ids=[picking["id"]])
    assert again.status_code == 422 and again.json()["message"] == ZERO_QUANTITY
    # an empty transfer (no moves): `_sanity_check`'s first refusal
    picking_type = ok("ir.model.data", "check_object_reference", module="stock",
                      xml_id="picking_type_out")[1]  # fmt: skip
    (empty,) = ok("stock.picking", "create", vals_list=[{"picking_type_id": picking_type}])
    answer_empty = json2("stock.picking", "button_validate", ids=[empty])
    assert answer_empty.status_code == 422 and answer_empty.json()["message"] == EMPTY_TRANSFER


def test_partial_quantities_return_the_backorder_wizard(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """`_check_backorder` finds the move picked below its demand; `button_validate` returns
    `_action_generate_backorder_wizard`'s window action and validates nothing."""
    order = _order(ok, [(products["CRATE"], 5), (products["PAL-EUR"], 2)])
    (picking,) = _pickings(ok, order)
    crate, pallets = _moves(ok, picking["id"])
    _set(ok, crate["id"], 3)
    _set(ok, pallets["id"], 2)
    action = ok("stock.picking", "button_validate", ids=[picking["id"]])
    view = ok("ir.model.data", "check_object_reference", module="stock",
              xml_id="view_backorder_confirmation")[1]  # fmt: skip
    assert action == {
        "name": "Create Backorder?",
        "type": "ir.actions.act_window",
        "view_mode": "form",
        "res_model": "stock.backorder.confirmation",
        "views": [[view, "form"]],
        "view_id": view,
        "target": "new",
        "context": {
            "button_validate_picking_ids": [picking["id"]],
            "default_show_transfers": False,
            "default_pick_ids": [[4, picking["id"]]],
        },
    }
    assert _pickings(ok, order)[0]["state"] == "assigned"  # still open
    assert {m["state"] for m in _moves(ok, picking["id"])} == {"partially_available", "assigned"}
    # the wizard's defaults (stock_backorder_confirmation.py `default_get`)
    defaults = ok("stock.backorder.confirmation", "default_get",
                  fields=["pick_ids", "backorder_confirmation_line_ids"],
                  context=action["context"])  # fmt: skip
    assert defaults["pick_ids"] == [[6, 0, [picking["id"]]]]
    assert defaults["backorder_confirmation_line_ids"] == [
        [0, 0, {"to_backorder": True, "picking_id": picking["id"]}]
    ]


def _wizard(ok: Callable[..., Any], action: dict[str, Any]) -> int:
    (wizard,) = ok("stock.backorder.confirmation", "create", vals_list=[{}],
                   context=action["context"])  # fmt: skip
    return int(wizard)


def test_process_creates_the_backorder_and_validates_the_original(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """stock_backorder_confirmation.py `process` -> `button_validate` (skip_backorder) ->
    stock_move.py `_create_backorder`/`_split` and stock_picking.py `_create_backorder`."""
    order = _order(ok, [(products["CRATE"], 5), (products["PAL-EUR"], 2),
                        (products["CARTON"], 4)], ref="BO-1")  # fmt: skip
    (picking,) = _pickings(ok, order)
    crate, pallets, cartons = _moves(ok, picking["id"])
    _set(ok, crate["id"], 3)
    _set(ok, pallets["id"], 2)
    _set(ok, cartons["id"], 0, picked=False)
    action = ok("stock.picking", "button_validate", ids=[picking["id"]])
    wizard = _wizard(ok, action)
    read = ok("stock.backorder.confirmation", "read", ids=[wizard],
              fields=["pick_ids", "backorder_confirmation_line_ids"])[0]  # fmt: skip
    assert read["pick_ids"] == [picking["id"]] and len(read["backorder_confirmation_line_ids"]) == 1
    assert ok("stock.backorder.confirmation", "process", ids=[wizard],
              context=action["context"]) is True  # fmt: skip
    original, backorder = _pickings(ok, order)
    assert original["state"] == "done" and original["backorder_ids"] == [backorder["id"]]
    assert backorder["backorder_id"] == [original["id"], original["name"]]
    assert backorder["origin"] == original["origin"] and backorder["state"] == "assigned"
    done = {m["product_id"][0]: (m["product_uom_qty"], m["quantity"], m["state"])
            for m in _moves(ok, original["id"])}  # fmt: skip
    assert done == {products["CRATE"]: (3, 3, "done"), products["PAL-EUR"]: (2, 2, "done")}
    rest = {m["product_id"][0]: (m["product_uom_qty"], m["quantity"], m["state"], m["picked"])
            for m in _moves(ok, backorder["id"])}  # fmt: skip
    assert rest == {
        products["CRATE"]: (2, 2, "assigned", False),
        products["CARTON"]: (4, 4, "assigned", False),
    }
    lines = ok("sale.order.line", "search_read", domain=[["order_id", "=", order]],
               fields=["product_id", "qty_delivered"], order="id asc")  # fmt: skip
    assert [ln["qty_delivered"] for ln in lines] == [3, 2, 0]
    notes = ok("mail.message", "search_read", domain=[["model", "=", "stock.picking"],
               ["res_id", "=", original["id"]]], fields=["body"])  # fmt: skip
    assert any("The backorder <a" in n["body"] and backorder["name"] in n["body"] for n in notes)
    # the backorder validates in full later, with no further backorder
    assert ok("stock.picking", "button_validate", ids=[backorder["id"]]) is True
    assert [p["state"] for p in _pickings(ok, order)] == ["done", "done"]
    assert [ln["qty_delivered"] for ln in ok("sale.order.line", "search_read",
            domain=[["order_id", "=", order]], fields=["qty_delivered"], order="id asc")] == [
        5, 2, 4]  # fmt: skip


def test_process_cancel_backorder_validates_and_cancels_the_rest(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """stock_backorder_confirmation.py `process_cancel_backorder`: `button_validate` with
    `picking_ids_not_to_backorder`, so `_action_done(cancel_backorder=True)`: the move
    picked in part is done as it is, the unpicked one cancelled, no backorder."""
    order = _order(ok, [(products["CRATE"], 5), (products["CARTON"], 4)])
    (picking,) = _pickings(ok, order)
    crate, cartons = _moves(ok, picking["id"])
    _set(ok, crate["id"], 3)
    _set(ok, cartons["id"], 0, picked=False)
    action = ok("stock.picking", "button_validate", ids=[picking["id"]])
    wizard = _wizard(ok, action)
    assert ok("stock.backorder.confirmation", "process_cancel_backorder", ids=[wizard],
              context=action["context"]) is True  # fmt: skip
    (only,) = _pickings(ok, order)
    assert only["state"] == "done" and only["backorder_ids"] == []
    moves = {m["product_id"][0]: (m["product_uom_qty"], m["quantity"], m["state"])
             for m in _moves(ok, picking["id"])}  # fmt: skip
    assert moves == {products["CRATE"]: (5, 3, "done"), products["CARTON"]: (4, 0, "cancel")}


def test_the_wizard_without_the_actions_context_does_nothing(
    ok: Callable[..., Any], json2: Call, products: dict[str, int]
) -> None:
    """`process` reads the pickings from the context's `button_validate_picking_ids`: a
    client that drops the action's context gets True and nothing is validated."""
    order = _order(ok, [(products["CRATE"], 5)])
    (picking,) = _pickings(ok, order)
    (crate,) = _moves(ok, picking["id"])
    _set(ok, crate["id"], 1)
    action = ok("stock.picking", "button_validate", ids=[picking["id"]])
    wizard = _wizard(ok, action)
    assert ok("stock.backorder.confirmation", "process", ids=[wizard]) is True
    assert ok("stock.backorder.confirmation", "process_cancel_backorder", ids=[wizard]) is True
    assert [p["state"] for p in _pickings(ok, order)] == ["assigned"]
    missing = json2("stock.backorder.confirmation", "process", ids=[wizard + 1000])
    assert missing.status_code == 404 and missing.json()["name"] == "odoo.exceptions.MissingError"


def test_pre_action_done_hook_marks_the_moves_picked(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """stock_picking.py `_pre_action_done_hook`: quantities but no move picked -> every
    move is picked; a move left at zero is then picked below its demand -> the wizard."""
    order = _order(ok, [(products["CRATE"], 5), (products["CARTON"], 4)])
    (picking,) = _pickings(ok, order)
    _crate, cartons = _moves(ok, picking["id"])
    _set(ok, cartons["id"], 0, picked=False)
    action = ok("stock.picking", "button_validate", ids=[picking["id"]])
    assert action["res_model"] == "stock.backorder.confirmation"
    assert [m["picked"] for m in _moves(ok, picking["id"])] == [True, True]


def test_the_operation_types_never_setting_skips_the_wizard(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """`button_validate`: pickings of an operation type with create_backorder 'never' are
    done with `cancel_backorder=True`; `_check_backorder` only asks for 'ask'."""
    picking_type = ok("ir.model.data", "check_object_reference", module="stock",
                      xml_id="picking_type_out")[1]  # fmt: skip
    ok("stock.picking.type", "write", ids=[picking_type], vals={"create_backorder": "never"})
    try:
        order = _order(ok, [(products["CRATE"], 5)])
        (picking,) = _pickings(ok, order)
        (crate,) = _moves(ok, picking["id"])
        _set(ok, crate["id"], 2)
        assert ok("stock.picking", "button_validate", ids=[picking["id"]]) is True
        (only,) = _pickings(ok, order)
        assert only["state"] == "done" and only["backorder_ids"] == []
    finally:
        ok("stock.picking.type", "write", ids=[picking_type], vals={"create_backorder": "ask"})


def test_two_pickings_validated_together_show_the_transfers(
    ok: Callable[..., Any], products: dict[str, int]
) -> None:
    """`_pre_action_done_hook` passes `show_transfers=len(self) > 1` to the wizard."""
    first = _pickings(ok, _order(ok, [(products["CRATE"], 2)]))[0]["id"]
    second = _pickings(ok, _order(ok, [(products["CRATE"], 2)]))[0]["id"]
    (move,) = _moves(ok, first)
    _set(ok, move["id"], 1)
    action = ok("stock.picking", "button_validate", ids=[first, second])
    assert action["context"]["default_show_transfers"] is True
    assert action["context"]["default_pick_ids"] == [[4, first]]  # only the one left short
    assert action["context"]["button_validate_picking_ids"] == [first, second]


def test_move_quantity_is_its_lines_and_refuses_a_finer_rounding(
    ok: Callable[..., Any], json2: Call, products: dict[str, int]
) -> None:
    """stock_move.py `_compute_quantity` (the lines' sum), `_set_quantity` (its inverse and
    its rounding error), `_compute_picked`/`_inverse_picked` (the lines follow the move)."""
    order = _order(ok, [(products["CRATE"], 5)])
    (picking,) = _pickings(ok, order)
    (move,) = _moves(ok, picking["id"])
    _set(ok, move["id"], 7, picked=True)  # more than the demand: the warehouse found more
    lines = ok("stock.move.line", "search_read", domain=[["move_id", "=", move["id"]]],
               fields=["quantity", "picked", "picking_id"])  # fmt: skip
    assert [(ln["quantity"], ln["picked"], ln["picking_id"][0]) for ln in lines] == [
        (7, True, picking["id"])]  # fmt: skip
    ok("stock.move.line", "write", ids=[lines[0]["id"]], vals={"quantity": 4, "picked": False})
    (move,) = _moves(ok, picking["id"])
    assert (move["quantity"], move["picked"]) == (4, False)
    bad = json2("stock.move", "write", ids=[move["id"]], vals={"quantity": 1.234})
    assert bad.status_code == 422 and "doesn't respect the rounding precision" in (
        bad.json()["message"])  # fmt: skip
    assert _moves(ok, picking["id"])[0]["quantity"] == 4  # the refused write left nothing


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picked=st.lists(st.integers(0, 4), min_size=1, max_size=3), cancel=st.booleans())
def test_any_partial_pick_delivers_what_was_picked_and_keeps_the_rest(
    ok: Callable[..., Any], json2: Call, products: dict[str, int], picked: list[int], cancel: bool
) -> None:
    """Whatever the warehouse picked of each line (0..demand): zero everywhere is
    refused; otherwise the validated delivery holds exactly what was picked, and the
    rest is in one backorder (`process`) or cancelled (`process_cancel_backorder`)."""
    codes = ["CRATE", "CARTON", "PAL-EUR"][: len(picked)]
    order = _order(ok, [(products[c], 4) for c in codes])
    (picking,) = _pickings(ok, order)
    for move, qty in zip(_moves(ok, picking["id"]), picked, strict=True):
        _set(ok, move["id"], qty, picked=qty > 0)
    answer = json2("stock.picking", "button_validate", ids=[picking["id"]])
    if not any(picked):
        assert answer.status_code == 422 and answer.json()["message"] == ZERO_QUANTITY
        return
    result = answer.json()
    if all(q == 4 for q in picked):
        assert result is True and len(_pickings(ok, order)) == 1
    else:
        method = "process_cancel_backorder" if cancel else "process"
        assert ok("stock.backorder.confirmation", method, ids=[_wizard(ok, result)],
                  context=result["context"]) is True  # fmt: skip
    found = _pickings(ok, order)
    assert found[0]["state"] == "done"
    done = {m["product_id"][0]: m["quantity"] for m in _moves(ok, found[0]["id"])
            if m["state"] == "done"}  # fmt: skip
    assert done == {products[c]: q for c, q in zip(codes, picked, strict=True) if q}
    if len(found) > 1:
        (backorder,) = found[1:]
        assert not cancel and backorder["backorder_id"][0] == found[0]["id"]
        rest = {m["product_id"][0]: m["product_uom_qty"] for m in _moves(ok, backorder["id"])}
        assert rest == {products[c]: 4 - q for c, q in zip(codes, picked, strict=True) if q < 4}
    else:
        assert cancel or all(q == 4 for q in picked)
