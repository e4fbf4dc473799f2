"""What a warehouse reports it shipped, per product (`MilestoneEvent.quantities`): from its
own JSON through its mapping, and as canonical events; bad values are refused with the
field named, and the hub's report of what Odoo did not do (channel `odoo`) is read back
strictly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.canonical import parse_events
from intermodal.canonical.events import EventError, ShipmentMilestone
from intermodal.connectors.odoo.mappings.stock_picking import picked_quantities
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping import load_mapping
from intermodal.workflows.engine import internal_trigger

WMS = Path(__file__).parents[2] / "examples" / "partners" / "wms"


def milestone(quantities: Any) -> bytes:
    data: dict[str, Any] = {"milestone": "picked_up", "occurred_at": "2026-11-23T10:00:00Z"}
    if quantities is not ...:
        data["quantities"] = quantities
    return orjson.dumps(
        [
            {
                "specversion": "1.0",
                "id": "e-1",
                "source": "wms",
                "subject": "SHP-1",
                "type": "intermodal.shipment.milestone",
                "time": "2026-11-23T10:00:00Z",
                "data": data,
            }
        ]
    )


def test_the_wms_mapping_carries_what_was_picked() -> None:
    mapping = load_mapping(WMS / "mapping.yaml", "wms")
    (event,) = mapping.parse((WMS / "sample_shipped.json").read_bytes())
    assert isinstance(event, ShipmentMilestone)
    assert picked_quantities(event.data.quantities) == {
        "SKU-7": Decimal(3),
        "SKU-9": Decimal(2),
    }
    # one line only: JSONata gives an object, the mapping makes it a list of one
    one = orjson.loads((WMS / "sample_shipped.json").read_bytes())
    one["lines"] = [{"sku": "SKU-7", "qty": 5, "picked": 5}]
    (single,) = mapping.parse(orjson.dumps(one))
    assert isinstance(single, ShipmentMilestone)
    assert picked_quantities(single.data.quantities) == {"SKU-7": Decimal(5)}


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([{"sku": "SKU-7", "qty": 5, "picked": -1}], "quantity"),
        ([{"sku": "SKU-7", "qty": 5, "picked": "three"}], "quantity"),
        ([{"sku": "bad sku with spaces", "qty": 5, "picked": 1}], "product"),
        ([{"sku": "SKU-7", "qty": 5, "picked": 1.0000001}], "quantity"),
    ],
)
def test_a_warehouse_report_with_bad_lines_is_refused_with_the_field(
    lines: list[dict[str, Any]], problem: str
) -> None:
    mapping = load_mapping(WMS / "mapping.yaml", "wms")
    message = orjson.loads((WMS / "sample_shipped.json").read_bytes())
    message["lines"] = lines
    with pytest.raises(NormalizeError, match=problem):
        mapping.parse(orjson.dumps(message))


def test_quantities_in_canonical_events() -> None:
    (event,) = parse_events(milestone([{"product": "CRATE", "quantity": "3.5"},
                                       {"product": "CRATE", "quantity": 1}]))  # fmt: skip
    assert isinstance(event, ShipmentMilestone)
    assert picked_quantities(event.data.quantities) == {"CRATE": Decimal("4.5")}  # summed
    (none,) = parse_events(milestone(...))
    assert isinstance(none, ShipmentMilestone) and none.data.quantities is None
    assert picked_quantities(none.data.quantities) is None  # not said: Odoo's reserved stand
    (empty,) = parse_events(milestone([]))  # said, and nothing was picked
    assert isinstance(empty, ShipmentMilestone) and picked_quantities(empty.data.quantities) == {}
    for bad, where in [
        ([{"product": "CRATE", "quantity": -1}], "quantity"),
        ([{"product": "CRATE"}], "quantity"),
        ([{"product": "CRATE", "quantity": 1, "lot": "L1"}], "lot"),
        ([{"product": "", "quantity": 1}], "product"),
        ({"product": "CRATE", "quantity": 1}, "quantities"),
        ([{"product": "CRATE", "quantity": 1}] * 501, "quantities"),
        ([{"product": "CRATE", "quantity": "1e400"}], "quantity"),
    ]:
        with pytest.raises(EventError, match=where):
            parse_events(milestone(bad))


_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=12)
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        _VALUE,
        st.lists(
            st.dictionaries(st.sampled_from(["product", "quantity", "x"]), _VALUE), max_size=4
        ),
    )
)
def test_any_quantities_are_parsed_or_refused_never_half(value: Any) -> None:
    try:
        (event,) = parse_events(milestone(value))
    except EventError:
        return
    assert isinstance(event, ShipmentMilestone)
    found = picked_quantities(event.data.quantities)
    assert found is None or all(q >= 0 for q in found.values())


def test_the_hubs_odoo_report_is_read_strictly() -> None:
    """`internal_trigger` for channel `odoo` (written by the Odoo sink's follow-up): a
    well-formed report is the `odoo.refused` trigger; anything else raises, and the
    applier rejects that inbox row (engine/applier.py `_apply_rows`)."""
    body = {"id": "odoo:cmd_1", "subject": "SHP-1", "endpoint": "odoo",
            "at": "2026-11-23T10:00:00+00:00", "reason": "WH/OUT/00001 is still assigned",
            "detail": {"command_id": "cmd_1", "pickings": ["WH/OUT/00001"]}}  # fmt: skip
    subject, trigger = internal_trigger("odoo", orjson.dumps(body), "corr_1")
    assert (subject, trigger.name, trigger.event_id) == ("SHP-1", "odoo.refused", "odoo:cmd_1")
    assert trigger.data["reason"] == "WH/OUT/00001 is still assigned"
    assert trigger.data["pickings"] == ["WH/OUT/00001"]
    for bad in [b"", b"[]", b"{}", orjson.dumps({**body, "at": 7}),
                orjson.dumps({**body, "detail": [1, 2, 3]}),
                orjson.dumps({k: v for k, v in body.items() if k != "reason"})]:  # fmt: skip
        with pytest.raises((ValueError, KeyError, TypeError)):
            internal_trigger("odoo", bad, "corr_1")
