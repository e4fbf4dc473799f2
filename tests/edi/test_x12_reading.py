"""What the `x12` reader makes of a 214, 204, 210 and 990, the way the standard means it:
references belong to their LX loop, a stop keeps every G62 and its window, the L3 totals
after the stops are read, and identifiers are read without their padding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.canonical.events import ShipmentUpserted
from intermodal.edi.errors import Segment
from intermodal.edi.x12 import X12Document, generate_x12, parse_x12
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping import load_mapping
from intermodal.mapping.readers import ReadContext, read_x12
from intermodal.mapping.spec import mapping_from_data
from tests.edi._golden import golden

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
CHICAGO = ReadContext("ridgeline", "reject", "America/Chicago")


# -- 214: references per LX loop ---------------------------------------------------------
def test_each_status_carries_its_own_loops_references() -> None:
    statuses = read_x12(golden("214_multi_loop.x12"), CHICAGO)["statuses"]
    shipment = {"BM": "BOL-88231", "PO": "PO-4410977"}
    assert [(s["shipment_id"], s["code"], s["references"]) for s in statuses] == [
        # LX 1: its seal number (after both AT7s of the loop) applies to both
        ("SHIP-2024-0311", "X3", {**shipment, "SN": "SEAL-0098812"}),
        ("SHIP-2024-0311", "AF", {**shipment, "SN": "SEAL-0098812"}),
        # LX 2 has none of its own: the shipment's only, not loop 1's seal
        ("SHIP-2024-0311", "X6", shipment),
        # LX 3: its appointment, and its own PO over the shipment's
        ("SHIP-2024-0311", "X1", {"BM": "BOL-88231", "PO": "PO-4410977-B", "AO": "APPT-55120"}),
        # LX 4: its delivery order only; the PO is the shipment's again
        ("SHIP-2024-0311", "D1", {**shipment, "DO": "POD-99120"}),
        # the second 214 of the group: its own shipment's references, nothing of the first
        ("SHIP-2024-0312", "AF", {"BM": "BOL-88240"}),
    ]
    assert [s["occurred_at"] for s in statuses][:2] == [
        "2024-03-11T12:12:00+00:00",
        "2024-03-11T14:05:00+00:00",
    ]
    assert [(s.get("city"), s.get("equipment")) for s in statuses][2:4] == [
        ("COLUMBIA", "TRL-5512"),
        ("KANSAS CITY", None),
    ]


def test_a_214_without_lx_loops_gives_every_status_the_shipments_references() -> None:
    statuses = read_x12((EXAMPLES / "ridgeline" / "sample_214.x12").read_bytes(), CHICAGO)
    assert [s["references"] for s in statuses["statuses"]] == [{"PO": "PO-778812"}] * 2


def test_multi_loop_214_becomes_milestones_through_the_carrier_mapping() -> None:
    mapping = load_mapping(EXAMPLES / "ridgeline" / "mapping.yaml", "ridgeline")
    events = mapping.parse(golden("214_multi_loop.x12"))
    assert [(e.subject, e.data.milestone.value) for e in events] == [  # type: ignore[union-attr]
        ("SHIP-2024-0311", "picked_up"),
        ("SHIP-2024-0311", "picked_up"),
        ("SHIP-2024-0311", "in_transit"),
        ("SHIP-2024-0311", "out_for_delivery"),
        ("SHIP-2024-0311", "delivered"),
        ("SHIP-2024-0312", "picked_up"),
    ]


# -- 204: every G62 of a stop, its window, and the L3 totals after the stops ----------------
def test_a_multi_stop_tender_keeps_each_stops_dates_and_window() -> None:
    (tender,) = read_x12(golden("204_multi_stop_windows.x12"), CHICAGO)["tenders"]
    first, second, third, fourth = tender["stops"]
    # stop 1: ship not before / not later than (37/38), in Eastern time (daylight saving)
    assert first["dates"] == [
        {
            "qualifier": "37",
            "time_qualifier": "I",
            "meaning": "earliest",
            "at": "2024-03-12T10:00:00+00:00",
        },
        {
            "qualifier": "38",
            "time_qualifier": "K",
            "meaning": "latest",
            "at": "2024-03-12T14:00:00+00:00",
        },
    ]
    assert first["window"] == {
        "start": "2024-03-12T10:00:00+00:00",
        "end": "2024-03-12T14:00:00+00:00",
    }
    # stop 2: the same window told by the time qualifiers (requested date 10, I / K)
    assert (second["kind"], second["earliest"], second["latest"]) == (
        "pickup",
        "2024-03-12T17:00:00+00:00",
        "2024-03-12T19:00:00+00:00",
    )
    # stop 3: deliver not before / no later than (53/54), in Central time
    assert third["window"] == {
        "start": "2024-03-13T13:00:00+00:00",
        "end": "2024-03-13T17:00:00+00:00",
    }
    assert third["at"] == third["window"]["start"]
    # stop 4: requested and scheduled delivery: no window; planned for the scheduled time
    assert "window" not in fourth
    assert (fourth["requested"], fourth["scheduled"], fourth["at"]) == (
        "2024-03-13T21:00:00+00:00",
        "2024-03-13T21:30:00+00:00",
        "2024-03-13T21:30:00+00:00",
    )
    assert fourth["references"] == {"AO": "APPT-7781"}
    assert [s["kind"] for s in tender["stops"]] == ["pickup", "pickup", "delivery", "delivery"]


def test_a_tender_reads_its_l3_totals_after_the_stops() -> None:
    (tender,) = read_x12(golden("204_multi_stop_windows.x12"), CHICAGO)["tenders"]
    assert tender["totals"] == {
        "weight": "30000",
        "weight_qualifier": "G",
        "charge": "2450.00",
        "volume": "1800",
        "volume_unit": "E",
        "lading_quantity": "24",
        "weight_unit": "L",
    }
    assert tender["weight"] == "30000"
    assert tender["respond_by"] == "2024-03-11T16:00:00+00:00"  # G62 64, 12:00 EDT
    assert tender["notes"] == ["DRIVER MUST  CHECK IN AT GATE 3"]  # free text as sent
    (older,) = read_x12(golden("204_load_tender.x12"), CHICAGO)["tenders"]
    assert (older["weight"], older["totals"]["charge"]) == ("10000", "1250.00")


TENDER_MAPPING: dict[str, Any] = {
    "reader": "x12",
    "timezone": "America/Chicago",
    "messages": [
        {
            "name": "tender_204",
            "each": "tenders",
            "type": "intermodal.shipment.upserted",
            "event": {
                "id": "'tender-' & shipment_id",
                "subject": "shipment_id",
                "time": "issued_at",
                "data": "{'key': shipment_id, 'references': {'customer_reference':"
                " references.PO}, 'stops': stops.{'sequence': sequence, 'kind': kind,"
                " 'window': window, 'address': {'street': street, 'city': city, 'region':"
                " region, 'postal_code': postal_code, 'country': country}}[]}",
            },
        }
    ],
}


def test_stop_windows_map_to_the_canonical_time_window() -> None:
    (event,) = mapping_from_data(TENDER_MAPPING, "shipper").parse(
        golden("204_multi_stop_windows.x12")
    )
    assert isinstance(event, ShipmentUpserted)
    windows = [
        None if s.window is None else (s.window.start.isoformat(), s.window.end.isoformat())
        for s in event.data.stops
    ]
    assert windows == [
        ("2024-03-12T10:00:00+00:00", "2024-03-12T14:00:00+00:00"),
        ("2024-03-12T17:00:00+00:00", "2024-03-12T19:00:00+00:00"),
        ("2024-03-13T13:00:00+00:00", "2024-03-13T17:00:00+00:00"),
        None,
    ]
    assert event.data.references.customer_reference == "PO-4410977"


def test_a_g62_that_is_not_a_date_names_its_element() -> None:
    data = golden("204_multi_stop_windows.x12").replace(b"G62*54*20240313", b"G62*54*2024031", 1)
    with pytest.raises(NormalizeError) as caught:
        read_x12(data, CHICAGO)
    assert "G6202" in str(caught.value) and "CCYYMMDD" in str(caught.value)
    data = golden("204_multi_stop_windows.x12").replace(b"*1200*CT", b"*1200*QQ", 1)
    with pytest.raises(NormalizeError, match="not a time code this reader knows") as caught:
        read_x12(data, CHICAGO)
    assert "G6205" in str(caught.value) and "QQ" not in str(caught.value)


# -- identifiers without their padding ---------------------------------------------------------
# Elements the standard defines as identifiers or codes (ID/AN ids, DT, TM), per segment.
IDENTIFIERS: dict[str, tuple[int, ...]] = {
    "B10": (1, 2, 3),  # reference, shipment id, SCAC
    "L11": (1, 2),  # reference id, qualifier
    "AT7": (1, 2, 5, 6, 7),  # status, reason, date, time, time code
    "MS1": (2, 3),  # state, country codes
    "MS2": (1, 2),  # SCAC, equipment number
    "B2": (2, 4, 6),  # SCAC, shipment id, payment method
    "B2A": (1,),
    "S5": (1, 2),  # stop sequence, reason
    "G62": (1, 2, 3, 4, 5),
    "N1": (1, 3, 4),  # entity code, id qualifier, id
    "N4": (2, 3, 4),  # state, postal code, country
    "L3": (1, 2, 5, 9, 10, 11, 12),
    "B3": (2, 3, 4, 6, 11),  # invoice number, shipment id, payment, date, SCAC
    "C3": (1,),
    "N9": (1, 2),
    "L1": (1, 2, 3, 8),
    "B1": (1, 2, 3, 4),  # SCAC, shipment id, date, action
}
PADDING = st.text(st.sampled_from([" ", "\t", "\u00a0", "\u3000"]), max_size=3)
DOCUMENTS = [
    "214_multi_loop.x12",
    "204_multi_stop_windows.x12",
    "210_freight_invoice.x12",
    "990_accept_decline_counter.x12",
]


def _padded(doc: X12Document, draw: st.DrawFn) -> X12Document:
    for _, _, tx in doc.transactions():
        padded = []
        for seg in tx.segments:
            positions = IDENTIFIERS.get(seg.tag, ())
            elements = [
                tuple(draw(PADDING) + c + draw(PADDING) if c else c for c in element)
                if index in positions
                else element
                for index, element in enumerate(seg.elements, 1)
            ]
            padded.append(Segment(seg.tag, tuple(elements)))
        tx.segments = padded
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DOCUMENTS), st.data())
def test_any_padding_around_identifiers_reads_and_maps_the_same(
    name: str, data: st.DataObject
) -> None:
    clean = golden(name)
    padded = generate_x12(_padded(parse_x12(clean), data.draw))
    assert read_x12(padded, CHICAGO) == read_x12(clean, CHICAGO)
    if name == "214_multi_loop.x12":
        mapping = load_mapping(EXAMPLES / "ridgeline" / "mapping.yaml", "ridgeline")
        assert mapping.parse(padded) == mapping.parse(clean)
    if name == "204_multi_stop_windows.x12":
        mapping = mapping_from_data(TENDER_MAPPING, "shipper")
        assert mapping.parse(padded) == mapping.parse(clean)


def test_a_padded_scac_and_shipment_id_are_read_trimmed() -> None:
    data = golden("214_multi_loop.x12").replace(
        b"B10*PRO-7730041*SHIP-2024-0311*RDGL", b"B10*PRO-7730041* SHIP-2024-0311\t* RDGL"
    )
    first = read_x12(data, CHICAGO)["statuses"][0]
    assert (first["shipment_id"], first["scac"]) == ("SHIP-2024-0311", "RDGL")
