"""Whatever a carrier sends back, the parsers give a typed `CarrierError`, never another
exception: arbitrary bytes, arbitrary JSON, and near-miss versions of the real shapes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.connectors.carriers._http import read_json
from intermodal.connectors.carriers.contract import CarrierError
from intermodal.connectors.carriers.freightline.providers import pickup as fl_pickup
from intermodal.connectors.carriers.freightline.providers.rate import parse_quote_response
from intermodal.connectors.carriers.freightline.providers.shipment.create import (
    parse_book_response,
    parse_lookup_response,
)
from intermodal.connectors.carriers.freightline.providers.shipment.void import (
    parse_cancel_response,
)
from intermodal.connectors.carriers.freightline.providers.tracking import parse_trace_response
from intermodal.connectors.carriers.parcelpro.providers import pickup as pp_pickup
from intermodal.connectors.carriers.parcelpro.providers.rate import parse_rate_response
from intermodal.connectors.carriers.parcelpro.providers.shipment.create import (
    parse_search_response,
    parse_shipment_response,
)
from intermodal.connectors.carriers.parcelpro.providers.shipment.void import parse_void_response
from intermodal.connectors.carriers.parcelpro.providers.tracking import parse_tracking_response

PARSERS: dict[str, Callable[[Any], object]] = {
    "pp.rate": lambda v: parse_rate_response("parcelpro", v),
    "pp.book": lambda v: parse_shipment_response("parcelpro", "SH-1", v),
    "pp.find": lambda v: parse_search_response("parcelpro", "SH-1", v),
    "pp.void": lambda v: parse_void_response("parcelpro", v),
    "pp.track": lambda v: parse_tracking_response("parcelpro", v),
    "pp.pickup": lambda v: pp_pickup.parse_pickup_response("parcelpro", v),
    "pp.pickups": lambda v: pp_pickup.parse_pickup_list("parcelpro", v),
    "pp.cancel_pickup": lambda v: pp_pickup.parse_cancel_pickup_response("parcelpro", v),
    "fl.pickup": lambda v: fl_pickup.parse_pickup_response("freightline", v),
    "fl.pickups": lambda v: fl_pickup.parse_pickup_list("freightline", v),
    "fl.cancel_pickup": lambda v: fl_pickup.parse_cancel_pickup_response("freightline", v),
    "fl.rate": lambda v: parse_quote_response("freightline", v),
    "fl.book": lambda v: parse_book_response("freightline", "SH-1", v),
    "fl.find": lambda v: parse_lookup_response("freightline", "SH-1", v),
    "fl.void": lambda v: parse_cancel_response("freightline", v),
    "fl.track": lambda v: parse_trace_response("freightline", v),
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "NaN", "1e999", "-1", "12.34", "PU", "EX", "DELIVERED", "USD", "XXX"])
    | st.sampled_from(["2026-01-05T08:00:00Z", "2026-01-05T08:00:00", "13:99", "+99:00"])
)
KEYS = [
    "rates", "service_code", "amount_cents", "currency", "transit_days", "surcharges", "code",
    "shipment", "shipments", "id", "client_reference", "tracking_number", "status",
    "label_pdf_base64", "events", "at", "location", "note", "quotes", "product", "total",
    "days", "booking", "bookings", "pro_number", "booking_ref", "shipper_ref", "state",
    "label_zpl", "history", "date", "time", "utc_offset", "city", "remarks", "country",
    "pickup", "pickups", "shipment_ids", "confirmation",
]  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=8)
    ),
    max_leaves=30,
)


def only_typed_errors(parse: Callable[[Any], object], value: Any) -> None:
    with contextlib.suppress(CarrierError):
        parse(value)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=100, deadline=None)
@given(value=json_values)
def test_any_json_gives_a_result_or_a_typed_error(name: str, value: Any) -> None:
    only_typed_errors(PARSERS[name], value)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_any_bytes_give_json_or_a_typed_error(body: bytes) -> None:
    try:
        value = read_json("parcelpro", "rate", body)
    except CarrierError:
        return
    for parse in PARSERS.values():
        only_typed_errors(parse, value)


NEAR_MISSES: list[tuple[str, Any]] = [
    ("pp.rate", {"rates": [{"service_code": "PP_STD", "amount_cents": 100, "currency": "ZZZ",
                            "transit_days": 3}]}),
    ("pp.rate", {"rates": [{"service_code": "PP_STD", "amount_cents": "100", "currency": "USD",
                            "transit_days": 3}]}),
    ("pp.track", {"tracking_number": "X1", "events": [{"code": "ZZ",
                                                       "at": "2026-01-05T08:00:00Z"}]}),
    ("pp.track", {"tracking_number": "X1", "events": [{"code": "PU", "at": "2026-01-05T08:00"}]}),
    ("fl.rate", {"quotes": [{"product": "GROUND", "total": "NaN", "currency": "USD",
                             "days": "2"}]}),
    ("fl.track", {"pro_number": "1", "history": [{"status": "PICKED UP", "date": "2026-02-30",
                                                 "time": "10:00", "utc_offset": "+00:00"}]}),
    ("fl.void", {"booking": {"pro_number": "1", "booking_ref": "b", "shipper_ref": "r",
                             "product": "GROUND", "total": "1.00", "currency": "USD",
                             "state": "BOOKED", "label_zpl": ""}}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), NEAR_MISSES)
def test_near_misses_are_typed_errors(name: str, value: Any) -> None:
    with pytest.raises(CarrierError):
        PARSERS[name](value)
