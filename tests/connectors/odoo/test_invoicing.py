"""Invoice lines with products, and late charges, against the Odoo test server on JSON-2
(Odoo 19) and JSON-RPC (Odoo 18), each replayed as the dispatcher would after a crash.

Imitated Odoo behaviour (all addons/account/models): a product line takes its account and
taxes from the product through the customer's fiscal position (account_move_line.py
`_compute_account_id`, `_compute_tax_ids`; partner.py `map_tax`, `map_account`,
`_get_fiscal_position`); a posted invoice refuses new lines (account_move.py
AccountMove.write: "You cannot modify the following readonly fields on a posted move"), so
a late charge then becomes a supplementary invoice, or a credit note (an out_refund whose
reversed_entry_id is the invoice).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from intermodal.connectors.odoo.mappings import ops_for
from intermodal.connectors.odoo.ops import OdooMappingError
from intermodal.connectors.odoo.sink import OdooSink
from intermodal.outbox.sinks import ClaimedCommand
from intermodal_sim.odoo.testing import RunningSim
from tests.connectors.odoo.helpers import command, endpoint, replayed

INVOICE = "intermodal.odoo.invoice.create"
ADJUST = "intermodal.odoo.invoice.adjust"
CUSTOMER = {"role": "customer", "name": "Invoice Co", "reference": "INV-CO"}
BELGIAN = {
    "role": "customer",
    "name": "Brussels Co",
    "reference": "BE-CO",
    "address": {"city": "Brussels", "country": "BE"},
}


@pytest_asyncio.fixture
async def sink(served: tuple[RunningSim, str]) -> AsyncIterator[OdooSink]:
    sim, protocol = served
    async with httpx.AsyncClient() as http:
        yield OdooSink(endpoint(sim, protocol), http)


async def ok(sink: OdooSink, commands: list[ClaimedCommand]) -> None:
    results = await sink.write(commands)
    assert [r.error for r in results if not r.ok] == []


def charge(code: str, kind: str, amount: str) -> dict[str, Any]:
    return {
        "code": code,
        "kind": kind,
        "status": "final",
        "amount": {"amount": amount, "currency": "USD"},
    }


def invoice(
    key: str,
    *charges: dict[str, Any],
    customer: dict[str, Any] = CUSTOMER,
    post: bool = False,
    **extra: Any,
) -> ClaimedCommand:
    return command(
        INVOICE,
        key,
        {
            "reference": key,
            "customer": customer,
            "currency": "USD",
            "charges": list(charges),
            "post": post,
            **extra,
        },
    )


def adjustment(
    key: str, n: int, *lines: dict[str, Any], post: bool = True, **extra: Any
) -> ClaimedCommand:
    return command(
        ADJUST,
        key,
        {
            "invoice": key,
            "reference": f"{key}-ADJ{n}",
            "customer": CUSTOMER,
            "currency": "USD",
            "lines": list(lines),
            "post": post,
            **extra,
        },
    )


async def moves(sink: OdooSink, ref_like: str) -> list[Any]:
    return list(
        await sink.client.call(
            "account.move",
            "search_read",
            domain=[["ref", "like", ref_like]],
            fields=["ref", "move_type", "state", "amount_total", "reversed_entry_id"],
            order="id asc",
        )
    )


async def lines(sink: OdooSink, move: int) -> list[Any]:
    return list(
        await sink.client.call(
            "account.move.line",
            "search_read",
            domain=[["move_id", "=", move]],
            fields=["name", "product_id", "account_id", "tax_ids", "price_unit", "price_total"],
            order="id asc",
        )
    )


async def names(sink: OdooSink, model: str, ids: list[int]) -> list[str]:
    return [r["name"] for r in await sink.client.call(model, "read", ids, fields=["name"])]


async def test_lines_carry_their_products_so_odoo_applies_accounts_and_taxes(
    sink: OdooSink,
) -> None:
    products = {"FRT": "FTL"}  # the fuel charge has no product
    domestic = invoice(
        "PRD-1", charge("FRT", "freight", "100"), charge("FUEL", "fuel", "10"), products=products
    )
    belgian = invoice("PRD-2", charge("FRT", "freight", "100"), customer=BELGIAN, products=products)
    await ok(sink, [domestic, belgian])
    await ok(sink, [replayed(domestic), replayed(belgian)])
    first, second = await moves(sink, "PRD-")
    freight, fuel = await lines(sink, first["id"])
    assert freight["product_id"][1] == "[FTL] Road freight FTL"
    assert await names(sink, "account.tax", freight["tax_ids"]) == ["15%"]
    assert (await names(sink, "account.account", [freight["account_id"][0]])) == ["Product Sales"]
    assert (fuel["product_id"], fuel["tax_ids"], fuel["price_total"]) == (False, [], 10.0)
    assert first["amount_total"] == 125.0  # 100 + 15% + 10
    (be_line,) = await lines(sink, second["id"])
    assert await names(sink, "account.tax", be_line["tax_ids"]) == ["21% BE"]  # auto position
    assert second["amount_total"] == 121.0


async def test_a_product_odoo_does_not_have_is_a_permanent_failure(sink: OdooSink) -> None:
    (result,) = await sink.write(
        [invoice("PRD-3", charge("FRT", "freight", "1"), products={"FRT": "NO-SUCH-PRODUCT"})]
    )
    assert not result.ok and not result.retryable
    assert "product.product with default_code = 'NO-SUCH-PRODUCT'" in str(result.error)


async def test_a_late_charge_is_added_to_the_draft_invoice_once(sink: OdooSink) -> None:
    await ok(sink, [invoice("LATE-1", charge("FRT", "freight", "100"))])
    late = adjustment(
        "LATE-1",
        1,
        {
            "code": "DET",
            "kind": "accessorial",
            "description": "Detention",
            "amount": "45.50",
            "product": "FTL",
        },
    )
    await ok(sink, [late])
    await ok(sink, [replayed(late)])
    (draft,) = await moves(sink, "LATE-1")
    assert (draft["state"], draft["move_type"]) == ("draft", "out_invoice")
    added = [ln for ln in await lines(sink, draft["id"]) if "[LATE-1-ADJ1]" in ln["name"]]
    assert [(ln["name"], ln["price_unit"]) for ln in added] == [("Detention [LATE-1-ADJ1]", 45.5)]
    assert added[0]["product_id"][1] == "[FTL] Road freight FTL"


async def test_once_posted_more_is_a_supplementary_invoice_and_less_a_credit_note(
    sink: OdooSink,
) -> None:
    await ok(sink, [invoice("LATE-2", charge("FRT", "freight", "100"), post=True)])
    more = adjustment("LATE-2", 1, {"code": "FRT", "kind": "freight", "amount": "20"})
    less = adjustment("LATE-2", 2, {"code": "FRT", "kind": "freight", "amount": "-35"})
    await ok(sink, [more])
    await ok(sink, [less])
    await ok(sink, [replayed(more), replayed(less)])
    original, supplementary, credit = await moves(sink, "LATE-2")
    assert (original["state"], original["amount_total"]) == ("posted", 100.0)
    assert (supplementary["ref"], supplementary["move_type"], supplementary["state"]) == (
        "LATE-2-ADJ1",
        "out_invoice",
        "posted",
    )
    assert supplementary["amount_total"] == 20.0  # a line without product: no tax
    assert (credit["ref"], credit["move_type"], credit["state"]) == (
        "LATE-2-ADJ2",
        "out_refund",
        "posted",
    )
    assert credit["reversed_entry_id"][0] == original["id"] and credit["amount_total"] == 35.0
    (credit_line,) = await lines(sink, credit["id"])
    assert credit_line["name"] == "freight: FRT [LATE-2-ADJ2]"


async def test_separate_asks_for_a_separate_document_even_on_a_draft(sink: OdooSink) -> None:
    await ok(sink, [invoice("LATE-3", charge("FRT", "freight", "100"))])
    await ok(
        sink,
        [
            adjustment(
                "LATE-3",
                1,
                {"code": "FRT", "kind": "freight", "amount": "5"},
                post=False,
                separate=True,
            )
        ],
    )
    original, separate = await moves(sink, "LATE-3")
    assert len(await lines(sink, original["id"])) == 1
    assert (separate["ref"], separate["state"], separate["amount_total"]) == (
        "LATE-3-ADJ1",
        "draft",
        5.0,
    )


async def test_an_adjustment_waits_for_its_invoice_and_a_cancelled_one_refuses(
    sink: OdooSink,
) -> None:
    line = {"code": "FRT", "kind": "freight", "amount": "5"}
    (waiting,) = await sink.write([adjustment("LATE-4", 1, line)])
    assert not waiting.ok and waiting.retryable
    await ok(sink, [invoice("LATE-5", charge("FRT", "freight", "100"))])
    (draft,) = await moves(sink, "LATE-5")
    await sink.client.call("account.move", "button_cancel", [draft["id"]])
    (refused,) = await sink.write([adjustment("LATE-5", 1, line)])
    assert not refused.ok and not refused.retryable
    assert "cancelled in Odoo" in str(refused.error)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"lines": []}, "lines: List should have at least 1"),
        ({"lines": [{"code": "F", "kind": "freight", "amount": "0"}]}, "cannot be zero"),
        ({"lines": [{"code": "F", "kind": "freight", "amount": "NaN"}]}, "lines.0.amount"),
        ({"lines": [{"code": "F", "kind": "bribe", "amount": "1"}]}, "lines.0.kind"),
        ({"reference": "LATE-6"}, "reference must differ from the invoice"),
        ({"currency": "usd"}, "currency: String should match pattern"),
        ({"tax_ids": [1]}, "tax_ids: Extra inputs"),
    ],
)
def test_bad_adjustments_are_mapping_errors(change: dict[str, Any], problem: str) -> None:
    data = {
        "invoice": "LATE-6",
        "reference": "LATE-6-ADJ1",
        "customer": CUSTOMER,
        "currency": "USD",
        "lines": [{"code": "F", "kind": "freight", "amount": "1"}],
        **change,
    }
    with pytest.raises(OdooMappingError, match=problem):
        ops_for(command(ADJUST, "LATE-6", data).payload, None)
