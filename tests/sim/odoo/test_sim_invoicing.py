"""Invoices on the Odoo test server as Odoo computes them: accounts and taxes from the
product through the fiscal position, and what a posted invoice refuses.

Imitated, all odoo/odoo addons/account/models: account_move_line.py `_compute_account_id`,
`_compute_tax_ids`, `_get_computed_taxes`, `write` (taxes of a posted line),
`_unlink_except_posted`; partner.py AccountFiscalPosition `map_tax` (19: `tax_ids` whose
`original_tax_ids` name the source; up to 18: account.fiscal.position.tax rows),
`map_account`, `_get_fiscal_position`; account_move.py AccountMove `write` ("You cannot
modify the following readonly fields on a posted move", tested by Odoo's own
test_account_move_entry.py test_modify_posted_move_readonly_fields) and `_post`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from intermodal_sim.odoo.testing import RunningSim, running_sim


def ok(json2: Callable[..., httpx.Response], model: str, method: str, **body: Any) -> Any:
    response = json2(model, method, **body)
    assert response.status_code == 200, response.text
    return response.json()


def xmlid(json2: Callable[..., httpx.Response], name: str) -> int:
    module, _, local = name.partition(".")
    return int(ok(json2, "ir.model.data", "check_object_reference", module=module, xml_id=local)[1])


def partner(json2: Callable[..., httpx.Response], name: str, **values: Any) -> int:
    return int(ok(json2, "res.partner", "create", vals_list=[{"name": name, **values}])[0])


def invoice(json2: Callable[..., httpx.Response], customer: int, *lines: dict[str, Any]) -> int:
    return int(
        ok(
            json2,
            "account.move",
            "create",
            vals_list=[
                {
                    "move_type": "out_invoice",
                    "partner_id": customer,
                    "invoice_line_ids": [[0, 0, line] for line in lines],
                }
            ],
        )[0]
    )


def lines_of(json2: Callable[..., httpx.Response], move: int) -> list[dict[str, Any]]:
    rows = ok(
        json2,
        "account.move.line",
        "search_read",
        domain=[["move_id", "=", move]],
        fields=["name", "account_id", "tax_ids", "price_subtotal", "price_total"],
        order="id asc",
    )
    return list(rows)


def ftl(json2: Callable[..., httpx.Response]) -> int:
    (product,) = ok(json2, "product.product", "search", domain=[["default_code", "=", "FTL"]])
    return int(product)


def test_a_product_line_takes_the_products_account_and_taxes(
    json2: Callable[..., httpx.Response],
) -> None:
    """No fiscal position: the category's income account, the product's sales tax."""
    customer = partner(json2, "Local customer")  # no country: no automatic position
    move = invoice(json2, customer, {"product_id": ftl(json2), "quantity": 2, "price_unit": 100})
    (line,) = lines_of(json2, move)
    assert line["account_id"][0] == xmlid(json2, "account.1_income")
    assert line["tax_ids"] == [xmlid(json2, "account.1_sale_tax_15")]
    assert (line["price_subtotal"], line["price_total"]) == (200.0, 230.0)
    assert line["name"] == "[FTL] Road freight FTL"  # _compute_name from the product
    (move_row,) = ok(
        json2,
        "account.move",
        "read",
        ids=[move],
        fields=["fiscal_position_id", "amount_untaxed", "amount_tax", "amount_total", "journal_id"],
    )
    assert move_row["fiscal_position_id"] is False
    assert (move_row["amount_untaxed"], move_row["amount_tax"], move_row["amount_total"]) == (
        200.0,
        30.0,
        230.0,
    )
    assert move_row["journal_id"][0] == xmlid(json2, "account.1_sale")


def test_the_customers_fiscal_position_maps_account_and_taxes(
    json2: Callable[..., httpx.Response],
) -> None:
    """_get_fiscal_position: the partner's own position wins; else the first automatic one
    whose country matches (Belgium). map_account / map_tax replace what the product says."""
    export = partner(
        json2,
        "Overseas buyer",
        property_account_position_id=xmlid(json2, "account.1_fiscal_position_export"),
    )
    belgian = partner(json2, "Brussels buyer", country_id=xmlid(json2, "base.be"))
    product = ftl(json2)
    exported = invoice(json2, export, {"product_id": product, "price_unit": 100})
    to_belgium = invoice(json2, belgian, {"product_id": product, "price_unit": 100})
    (line,) = lines_of(json2, exported)
    assert line["account_id"][0] == xmlid(json2, "account.1_income_export")
    assert line["tax_ids"] == [xmlid(json2, "account.1_sale_tax_0_export")]
    assert line["price_total"] == 100.0
    (line,) = lines_of(json2, to_belgium)
    assert line["account_id"][0] == xmlid(json2, "account.1_income")  # no account mapping
    assert line["tax_ids"] == [xmlid(json2, "account.1_sale_tax_21_be")]
    assert line["price_total"] == 121.0
    (row,) = ok(json2, "account.move", "read", ids=[to_belgium], fields=["fiscal_position_id"])
    assert row["fiscal_position_id"][0] == xmlid(json2, "account.1_fiscal_position_be")


def test_given_values_win_and_a_line_without_product_gets_the_journals_account(
    json2: Callable[..., httpx.Response],
) -> None:
    """The computed fields are defaults (precompute): what the caller sends stays; a line
    with no product falls back to the journal's default account, and no taxes."""
    customer = partner(json2, "Another customer")
    explicit = xmlid(json2, "account.1_sale_tax_21_be")
    move = invoice(
        json2,
        customer,
        {"product_id": ftl(json2), "price_unit": 10, "tax_ids": [[6, 0, [explicit]]]},
        {"name": "Handling", "price_unit": 5},
    )
    with_product, without = lines_of(json2, move)
    assert with_product["tax_ids"] == [explicit]
    assert without["tax_ids"] == [] and without["price_total"] == 5.0
    assert without["account_id"][0] == xmlid(json2, "account.1_income")  # sale journal default


def test_a_posted_invoice_refuses_new_lines_and_its_lines_their_taxes(
    json2: Callable[..., httpx.Response],
) -> None:
    """account_move.py write on a posted move: the exact UserError, for each readonly
    field; a draft takes them again. account_move_line.py: taxes and deletion of posted
    lines are refused too."""
    move = invoice(
        json2, partner(json2, "Posted customer"), {"product_id": ftl(json2), "price_unit": 50}
    )
    assert ok(json2, "account.move", "action_post", ids=[move]) is False
    for vals in (
        {"invoice_line_ids": [[0, 0, {"name": "late", "price_unit": 9}]]},
        {"partner_id": partner(json2, "Someone else")},
        {"invoice_date": "2026-01-01"},
    ):
        refused = json2("account.move", "write", ids=[move], vals=vals)
        assert refused.status_code == 422, refused.text
        assert refused.json()["name"] == "odoo.exceptions.UserError"
        assert refused.json()["message"] == (
            f"You cannot modify the following readonly fields on a posted move: {next(iter(vals))}"
        )
    assert ok(json2, "account.move", "write", ids=[move], vals={"ref": "fine"}) is True
    (line,) = lines_of(json2, move)
    taxes = json2("account.move.line", "write", ids=[line["id"]], vals={"tax_ids": [[5, 0, 0]]})
    assert taxes.status_code == 422
    assert taxes.json()["message"].startswith("You cannot modify the taxes related to a posted")
    gone = json2("account.move.line", "unlink", ids=[line["id"]])
    assert gone.status_code == 422 and "You can't delete a posted journal item" in gone.text
    ok(json2, "account.move", "button_draft", ids=[move])
    ok(
        json2,
        "account.move",
        "write",
        ids=[move],
        vals={"invoice_line_ids": [[0, 0, {"name": "late", "price_unit": 9}]]},
    )
    assert len(lines_of(json2, move)) == 2


def test_a_credit_note_reverses_an_invoice_and_a_negative_invoice_is_refused(
    json2: Callable[..., httpx.Response],
) -> None:
    """A credit note is an out_refund naming the invoice it reverses (reversed_entry_id);
    `_post` refuses an invoice with a negative total."""
    customer = partner(json2, "Refund customer")
    original = invoice(json2, customer, {"name": "Freight", "price_unit": 100})
    (refund,) = ok(
        json2,
        "account.move",
        "create",
        vals_list=[
            {
                "move_type": "out_refund",
                "partner_id": customer,
                "reversed_entry_id": original,
                "invoice_line_ids": [[0, 0, {"name": "Freight correction", "price_unit": 30}]],
            }
        ],
    )
    ok(json2, "account.move", "action_post", ids=[refund])
    (row,) = ok(
        json2,
        "account.move",
        "read",
        ids=[refund],
        fields=["name", "state", "reversed_entry_id", "amount_total"],
    )
    assert row["name"].startswith("RINV/") and row["state"] == "posted"
    assert (row["reversed_entry_id"][0], row["amount_total"]) == (original, 30.0)
    negative = invoice(json2, customer, {"name": "Too much", "price_unit": -10})
    refused = json2("account.move", "action_post", ids=[negative])
    assert refused.status_code == 422 and "negative total amount" in refused.json()["message"]


@pytest.fixture(scope="module")
def sim18() -> Iterator[RunningSim]:
    with running_sim(version=18) as running:
        yield running


def test_on_18_the_fiscal_position_maps_taxes_through_its_mapping_rows(sim18: RunningSim) -> None:
    """Up to 18 AccountFiscalPosition.tax_ids is account.fiscal.position.tax (tax_src_id ->
    tax_dest_id); 19 replaced it with taxes carrying original_tax_ids."""

    def rpc(model: str, method: str, args: list[Any], kw: dict[str, Any] | None = None) -> Any:
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": [sim18.db, 2, sim18.password, model, method, args, kw or {}],
            },
        }
        answer = httpx.post(f"{sim18.url}/jsonrpc", json=body, timeout=10).json()
        assert "error" not in answer, answer
        return answer.get("result")

    fields = rpc(
        "account.fiscal.position", "fields_get", [["tax_ids"]], {"attributes": ["type", "relation"]}
    )
    assert fields["tax_ids"] == {"type": "one2many", "relation": "account.fiscal.position.tax"}
    (be,) = rpc("res.country", "search", [[["code", "=", "BE"]]])
    customer = rpc("res.partner", "create", [{"name": "Antwerp buyer", "country_id": be}])
    (product,) = rpc("product.product", "search", [[["default_code", "=", "FTL"]]])
    move = rpc(
        "account.move",
        "create",
        [
            {
                "move_type": "out_invoice",
                "partner_id": customer,
                "invoice_line_ids": [[0, 0, {"product_id": product, "price_unit": 100}]],
            }
        ],
    )
    (line,) = rpc(
        "account.move.line",
        "search_read",
        [[["move_id", "=", move]]],
        {"fields": ["tax_ids", "price_total"]},
    )
    (tax,) = rpc("account.tax", "read", [line["tax_ids"]], {"fields": ["name"]})
    assert (tax["name"], line["price_total"]) == ("21% BE", 121.0)
