"""Mapped EDI documents beyond status messages: 210 freight invoices become final charges,
204 load tenders and IFTMIN instructions become shipments, 990 responses are read; and a
mapping may produce any canonical event type through `data`."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.canonical.events import ChargeRecorded, ShipmentMilestone, ShipmentUpserted
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping.readers import ReadContext, read_edifact, read_x12
from intermodal.mapping.spec import MappingError, load_mapping, mapping_from_data

GOLDEN = Path(__file__).parents[1] / "edi" / "golden"
RIDGELINE = Path(__file__).parents[2] / "examples" / "partners" / "ridgeline" / "mapping.yaml"
CONTEXT = ReadContext("ridgeline", "reject", "America/Chicago")


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def test_a_210_becomes_final_charges_with_exact_amounts() -> None:
    mapping = load_mapping(RIDGELINE, "ridgeline")
    events = mapping.parse(golden("210_freight_invoice.x12"))
    assert all(isinstance(e, ChargeRecorded) for e in events)
    charges = {e.data.code: e.data for e in events if isinstance(e, ChargeRecorded)}
    assert charges["freight"].amount.amount == Decimal("1250.00")
    assert charges["fuel"].amount.amount == Decimal("95.50")
    assert {c.amount.currency for c in charges.values()} == {"USD"}
    assert {c.status.value for c in charges.values()} == {"final"}
    assert {e.subject for e in events} == {"SHIP-204-0001"}
    # B306 20240107 at midnight in the partner's zone (America/Chicago, UTC-6 in January)
    assert {e.time.isoformat() for e in events} == {"2024-01-07T06:00:00+00:00"}
    # the L1 lines add up to B307, the net amount due
    read = read_x12(golden("210_freight_invoice.x12"), CONTEXT)
    assert {c["net_amount_due"] for c in read["charges"]} == {"1345.50"}


def test_a_mixed_file_maps_statuses_and_charges_with_match_all() -> None:
    status = golden("214_newline_terminated.x12").decode()
    invoice = golden("210_freight_invoice.x12").decode()
    mapping = load_mapping(RIDGELINE, "ridgeline")
    events = mapping.parse(status.encode()) + mapping.parse(invoice.encode())
    first = mapping_from_data({**_ridgeline_raw(), "match": "first"}, "ridgeline").parse(
        invoice.encode()
    )
    assert any(isinstance(e, ShipmentMilestone) for e in events)
    assert any(isinstance(e, ChargeRecorded) for e in events)
    # with `first`, the 214 kind (no `when`) takes the file and the 210 yields nothing
    assert first == []


def _ridgeline_raw() -> dict[str, Any]:
    import yaml

    raw: dict[str, Any] = yaml.safe_load(RIDGELINE.read_text())
    return raw


TENDER_MAPPING = {
    "reader": "x12",
    "source": "shipper",
    "messages": [
        {
            "name": "tender_204",
            "each": "tenders",
            "type": "intermodal.shipment.upserted",
            "event": {
                "id": "'tender-' & shipment_id",
                "subject": "shipment_id",
                "time": "issued_at",
                "data": "{'key': shipment_id, 'references': {'customer_reference': references.PO},"
                " 'stops': stops.{'sequence': sequence, 'kind': kind, 'address': {'street': street,"
                " 'city': city, 'region': region, 'postal_code': postal_code,"
                " 'country': country}}[]}",
            },
        }
    ],
}


def test_a_204_becomes_a_shipment_with_its_stops() -> None:
    mapping = mapping_from_data(TENDER_MAPPING, "shipper")
    (event,) = mapping.parse(golden("204_load_tender.x12"))
    assert isinstance(event, ShipmentUpserted)
    shipment = event.data
    assert shipment.key == "SHIP-204-0001"
    assert shipment.references.customer_reference == "PO-778812"
    assert [(s.sequence, s.kind.value, s.address.city) for s in shipment.stops] == [
        (1, "pickup", "CHICAGO"),
        (2, "delivery", "KANSAS CITY"),
    ]
    assert shipment.stops[1].address.street == "42 HARBOR RD"


def test_an_iftmin_becomes_a_shipment_per_message() -> None:
    mapping = mapping_from_data(
        {
            "reader": "edifact",
            "messages": [
                {
                    "name": "instruction",
                    "each": "instructions",
                    "type": "intermodal.shipment.upserted",
                    "event": {
                        "id": "'iftmin-' & booking_number",
                        "subject": "booking_number",
                        "time": "issued_at",
                        "data": "{'key': booking_number, 'references': {'customer_reference':"
                        " references.CU}, 'stops': [{'sequence': 1, 'kind': 'pickup', 'address':"
                        " {'city': parties.CZ.city, 'country': parties.CZ.country}}, {'sequence':"
                        " 2, 'kind': 'delivery', 'address': {'street': parties.CN.street, 'city':"
                        " parties.CN.city, 'country': parties.CN.country}}]}",
                    },
                }
            ],
        },
        "shipper",
    )
    events = mapping.parse(golden("iftmin_d00b_group.edi"))
    assert [e.subject for e in events] == ["BOOK-2024-0042", "BOOK-2024-0043"]
    first = events[0]
    assert isinstance(first, ShipmentUpserted)
    assert first.data.references.customer_reference == "PO-778812"
    assert first.data.stops[1].address.street == "42 HARBOR RD"
    read = read_edifact(golden("iftmin_d00b_group.edi"), CONTEXT)
    assert [i["gross_weight"] for i in read["instructions"]] == ["1250.5", "830"]


def test_990_responses_are_read_with_their_action() -> None:
    read = read_x12(golden("990_accept_decline_counter.x12"), CONTEXT)
    assert [(r["shipment_id"], r["response"]) for r in read["responses"]] == [
        ("SHIP-204-0001", "accepted"),
        ("SHIP-204-0002", "declined"),
        ("SHIP-204-0003", "countered"),
    ]
    assert read["responses"][0]["references"] == {"CN": "PRO-5501"}
    # B103 is a date only; GS04+GS05 (20240104 1100, partner clock America/Chicago) say
    # when the answer was made, which is what a mapping should date the response by
    assert {r["sent_at"] for r in read["responses"]} == {"2024-01-04T17:00:00+00:00"}
    assert read["responses"][1]["remarks"] == ["NO CAPACITY LANE CLOSED"]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"type": "intermodal.pod.received", "event": {"id": "a", "subject": "b", "time": "c"}},
         "needs 'data'"),
        ({"event": {"id": "a", "subject": "b", "time": "c", "milestone": "'x'", "data": "{}"}},
         "not 'data'"),
        ({"type": "intermodal.charge.recorded",
          "event": {"id": "a", "subject": "b", "time": "c", "data": "{}", "status": "s"}},
         "belong to milestones"),
        ({"type": "intermodal.nope", "event": {"id": "a", "subject": "b", "time": "c"}}, "type"),
    ],
)  # fmt: skip
def test_bad_message_kinds_are_refused_with_the_reason(
    message: dict[str, Any], problem: str
) -> None:
    with pytest.raises(MappingError, match=problem):
        mapping_from_data({"messages": [{"name": "m", **message}]}, "p")


def test_data_that_is_not_canonical_names_the_data_expression() -> None:
    mapping = mapping_from_data(
        {
            "messages": [
                {
                    "name": "pod",
                    "type": "intermodal.pod.received",
                    "event": {"id": "id", "subject": "ref", "time": "at", "data": "{'x': 1}"},
                }
            ]
        },
        "p",
    )
    with pytest.raises(NormalizeError) as caught:
        mapping.parse(b'{"id": "1", "ref": "S-1", "at": "2026-01-01T00:00:00Z"}')
    assert "canonical data" in str(caught.value)
    scalar = mapping_from_data(
        {
            "messages": [
                {
                    "name": "pod",
                    "type": "intermodal.pod.received",
                    "event": {"id": "id", "subject": "ref", "time": "at", "data": "ref"},
                }
            ]
        },
        "p",
    )
    with pytest.raises(NormalizeError, match="must give an object"):
        scalar.parse(b'{"id": "1", "ref": "S-1", "at": "2026-01-01T00:00:00Z"}')


@settings(max_examples=150, deadline=None)
@given(
    data=st.sampled_from(
        ["210_freight_invoice.x12", "204_load_tender.x12", "990_accept_decline_counter.x12"]
    ),
    cut=st.integers(min_value=0, max_value=2000),
    junk=st.binary(max_size=40),
)
def test_hostile_x12_gives_a_normalize_error_or_a_reading(data: str, cut: int, junk: bytes) -> None:
    raw = golden(data)
    mutated = raw[:cut] + junk + raw[cut + len(junk) :]
    with contextlib.suppress(NormalizeError):
        read_x12(mutated, CONTEXT)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=1200), junk=st.binary(max_size=30))
def test_hostile_iftmin_gives_a_normalize_error_or_a_reading(cut: int, junk: bytes) -> None:
    raw = golden("iftmin_d00b_group.edi")
    with contextlib.suppress(NormalizeError):
        read_edifact(raw[:cut] + junk + raw[cut + len(junk) :], CONTEXT)


def test_an_empty_state_in_ms1_leaves_the_region_out() -> None:
    """X12 leaves optional elements empty (a European stop has no state): the mapping
    must not turn that into an empty region the canonical model refuses."""
    raw = golden("214_newline_terminated.x12").decode()
    assert "MS1*CHICAGO*IL*US" in raw
    events = load_mapping(RIDGELINE, "ridgeline").parse(
        raw.replace("MS1*CHICAGO*IL*US", "MS1*ANTWERP**BE").encode()
    )
    located = [e for e in events if isinstance(e, ShipmentMilestone) and e.data.location]
    assert located, "no status carried its place"
    for event in located:
        assert event.data.location is not None
        assert event.data.location.city == "ANTWERP"
        assert event.data.location.country == "BE"
        assert event.data.location.region is None
