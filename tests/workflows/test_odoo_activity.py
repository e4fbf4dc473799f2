"""`intermodal.odoo.activity.create` (the flows' to-do for a case with no milestone of its
own) against the Odoo test server on JSON-2 and JSON-RPC, replayed, and with bad input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.connectors.odoo.mappings import ops_for
from intermodal.connectors.odoo.ops import Activity, OdooMappingError
from intermodal.connectors.odoo.sink import OdooSink
from tests.connectors.odoo.helpers import command, order, replayed

TYPE = "intermodal.odoo.activity.create"


async def test_an_activity_lands_once_on_the_order(sink: OdooSink) -> None:
    assert all(r.ok for r in await sink.write([order("ACT-1")]))
    todo = command(TYPE, "ACT-1", {"summary": "Shipment ACT-1: delivered is late (SLA)",
                                    "note": "Expected <delivered> by 10:00.",
                                    "deadline": "2026-11-23"})  # fmt: skip
    first = await sink.write([todo])
    again = await sink.write([replayed(todo)])
    assert [r.error for r in first + again if not r.ok] == []
    (sale,) = await sink.client.call(
        "sale.order", "search", domain=[["client_order_ref", "=", "ACT-1"]]
    )
    rows = await sink.client.call(
        "mail.activity", "search_read",
        domain=[["res_model", "=", "sale.order"], ["res_id", "=", sale]],
        fields=["summary", "note", "date_deadline"],
    )  # fmt: skip
    assert [(r["summary"], r["date_deadline"]) for r in rows] == [
        ("Shipment ACT-1: delivered is late (SLA)", "2026-11-23")
    ]
    assert "Expected &lt;delivered&gt; by 10:00." in rows[0]["note"]  # escaped, not markup


async def test_an_activity_for_an_unknown_order_waits(sink: OdooSink) -> None:
    todo = command(TYPE, "NO-SUCH-ORDER", {"summary": "x", "deadline": "2026-11-23"})
    (result,) = await sink.write([todo])
    assert not result.ok and result.retryable  # the order may not be created yet


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"deadline": "2026-11-23"}, "summary: Field required"),
        ({"summary": "", "deadline": "2026-11-23"}, "summary: String should have at least 1"),
        ({"summary": "x" * 257, "deadline": "2026-11-23"}, "summary: String should have at most"),
        ({"summary": "x", "deadline": "tomorrow"}, "deadline: Input should be a valid date"),
        ({"summary": "x", "deadline": "2026-11-23", "user": 1}, "user: Extra inputs"),
    ],
)
def test_bad_activity_commands_are_mapping_errors(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(OdooMappingError, match=problem):
        ops_for(command(TYPE, "ACT-2", data).payload, None)


_VALUES = st.one_of(st.text(max_size=40), st.integers(-(2**63), 2**63 - 1), st.none())


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["summary", "note", "deadline", "x"]), _VALUES))
def test_any_data_is_an_activity_or_a_mapping_error(data: dict[str, Any]) -> None:
    payload = orjson.dumps({"specversion": "1.0", "id": "cmd_1", "source": "intermodal",
                            "type": TYPE, "subject": "ACT-3", "data": data})  # fmt: skip
    try:
        ops = ops_for(payload, None)
    except OdooMappingError:
        return
    assert len(ops) == 1 and isinstance(ops[0], Activity)
