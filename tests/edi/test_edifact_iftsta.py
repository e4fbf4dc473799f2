"""IFTSTA read the way D.01B structures it: each status has its own group (STS-RFF-DTM-...
-LOC-...-TDT(LOC)-EQD), its place is the LOC of that group that says where the event
happened, and padding around identifiers changes nothing."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.canonical.events import ShipmentMilestone
from intermodal.mapping.readers import ReadContext, read_edifact
from intermodal.mapping.spec import mapping_from_data

# A forwarder's daily status report: two consignments from Hamburg, one by sea to Milan
# through Genoa (loaded, discharged, delivered), one by road to Lyon (departed, en route).
# The partner writes a place of destination after the activity location and repeats the
# ports in the transport subgroup, as real ones do. «» mark the identifiers a partner may
# pad with spaces; names are text and keep theirs.
TEMPLATE = """UNA:+.? '
UNB+UNOC:3+«4012345000009»:14+«5412345000013»:14+240309:1812+«STA240309A»'
UNH+«1»+«IFTSTA»:D:01B:UN'
BGM+23+«STATUS-240309-01»+9'
DTM+«137»:202403091812:203'
NAD+CA+4012345000009::9'
LOC+«5»+«DEHAM»:139:6'
CNI+1+«CONS-7001»'
LOC+«7»+«ITMIL»:139:6'
STS+1+«11»'
RFF+«CU»:«PO-88120»'
DTM+«334»:«202403041030»:«203»'
NAD+CV+++TERMINAL BURCHARDKAI'
LOC+«175»+«DEHAM»:139:6+CTB:72:ZZZ:Container Terminal Burchardkai'
LOC+«8»+«ITMIL»:139:6'
TDT+20+024E+1++MSCU:172:20'
RFF+«VON»:«024E»'
LOC+«9»+«DEHAM»:139:6'
LOC+«11»+«ITGOA»:139:6'
DTM+133:202403061800:203'
EQD+CN+MSCU1234567'
STS+1+«12»'
RFF+«CU»:«PO-88120-B»'
DTM+«334»:«202403081445»:«203»'
LOC+«175»+«ITGOA»:139:6+:::Genova Voltri'
LOC+«7»+«ITMIL»:139:6'
STS+1+«21»'
RFF+«AAS»:«POD-5541»'
DTM+«334»:«202403091610»:«203»'
LOC+«7»+«ITMIL»:139:6+:::Milano Magazzino 3'
TDT+3++3'
RFF+«AAS»:«TRUCK-HH-KL-204»'
CNI+2+«CONS-7002»'
LOC+«7»+«FRLYS»:139:6'
STS+1+«11»'
DTM+«334»:«202403041100»:«203»'
TDT+3++3'
LOC+«175»+«DEHAM»:139:6+:::Hamburg Altenwerder'
LOC+«8»+«FRLYS»:139:6'
STS+1+«12»'
DTM+«334»:«202403051300»:«203»'
TDT+3++3'
LOC+«9»+«DEHAM»:139:6'
UNT+42+«1»'
UNZ+1+«STA240309A»'
"""
_MARKED = re.compile("«([^»]*)»")
IFTSTA = _MARKED.sub(r"\1", TEMPLATE)
CONTEXT = ReadContext("forwarder")


def _statuses(text: str = IFTSTA) -> list[dict[str, Any]]:
    statuses: list[dict[str, Any]] = read_edifact(text.encode("latin-1"), CONTEXT)["statuses"]
    return statuses


def _places(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["scope"], p["qualifier"], p["code"]) for p in status["locations"]]


def test_each_status_has_the_place_of_its_own_group() -> None:
    statuses = _statuses()
    assert [
        (s["consignment"], s["code"], s.get("location_code"), s.get("location_qualifier"))
        for s in statuses
    ] == [
        ("CONS-7001", "11", "DEHAM", "175"),  # not ITMIL (LOC+8) nor ITGOA (the vessel's)
        ("CONS-7001", "12", "ITGOA", "175"),  # not the place of delivery after it
        ("CONS-7001", "21", "ITMIL", "7"),  # the group's only LOC: D.01B's event place
        ("CONS-7002", "11", "DEHAM", "175"),  # said so by its qualifier, after TDT
        ("CONS-7002", "12", None, None),  # only the port of loading: no event place
    ]
    loaded, discharged, delivered, departed, _ = statuses
    assert loaded["location_name"] == "Container Terminal Burchardkai"
    assert discharged["location_name"] == "Genova Voltri"
    assert delivered["location_name"] == "Milano Magazzino 3"
    assert departed["location_name"] == "Hamburg Altenwerder"
    assert (
        loaded["_at"]["location_code"]
        == "segment 14 (LOC, position 12 in its set), element LOC02-1"
    )


def test_every_loc_is_kept_with_its_qualifier_and_scope() -> None:
    loaded, discharged, _, departed, en_route = _statuses()
    assert _places(loaded) == [
        ("message", "5", "DEHAM"),
        ("consignment", "7", "ITMIL"),
        ("status", "175", "DEHAM"),
        ("status", "8", "ITMIL"),
        ("transport", "9", "DEHAM"),
        ("transport", "11", "ITGOA"),
    ]
    assert _places(discharged) == [
        ("message", "5", "DEHAM"),
        ("consignment", "7", "ITMIL"),
        ("status", "175", "ITGOA"),
        ("status", "7", "ITMIL"),
    ]
    # the second consignment sees its own place of delivery, not the first one's
    assert _places(departed) == [
        ("message", "5", "DEHAM"),
        ("consignment", "7", "FRLYS"),
        ("transport", "175", "DEHAM"),
        ("transport", "8", "FRLYS"),
    ]
    assert _places(en_route)[-1] == ("transport", "9", "DEHAM")
    assert loaded["locations"][2]["code_list"] == "139" and loaded["locations"][2]["agency"] == "6"


def test_references_and_times_belong_to_their_status() -> None:
    loaded, discharged, delivered, departed, en_route = _statuses()
    assert loaded["references"] == {"CU": "PO-88120", "VON": "024E"}
    assert discharged["references"] == {"CU": "PO-88120-B"}
    # the truck's reference in the transport subgroup does not replace the status's own
    assert delivered["references"] == {"AAS": "POD-5541"}
    assert departed["references"] == en_route["references"] == {}
    assert [s["occurred_at"] for s in (loaded, discharged, delivered, departed, en_route)] == [
        "2024-03-04T10:30:00+00:00",
        "2024-03-08T14:45:00+00:00",
        "2024-03-09T16:10:00+00:00",
        "2024-03-04T11:00:00+00:00",
        "2024-03-05T13:00:00+00:00",
    ]
    assert {s["document_number"] for s in (loaded, en_route)} == {"STATUS-240309-01"}


MAPPING = mapping_from_data(
    {
        "reader": "edifact",
        "messages": [
            {
                "name": "iftsta",
                "each": "statuses",
                "event": {
                    "id": "'fwd-' & interchange & '-' & message & '-' & consignment & '-' & code",
                    "subject": "consignment",
                    "time": "occurred_at",
                    "status": "code",
                    "tracking_number": "references.CU",
                    "location": "location_code ? {'city': location_name,"
                    " 'country': $substring(location_code, 0, 2)} : undefined",
                },
            }
        ],
        "statuses": {"11": "picked_up", "12": "in_transit", "21": "delivered"},
    },
    "forwarder",
)


def test_the_mapping_places_each_milestone() -> None:
    events = MAPPING.parse(IFTSTA.encode("latin-1"))
    assert [
        (e.subject, e.data.milestone.value, e.data.location and e.data.location.country)
        for e in events
        if isinstance(e, ShipmentMilestone)
    ] == [
        ("CONS-7001", "picked_up", "DE"),
        ("CONS-7001", "in_transit", "IT"),
        ("CONS-7001", "delivered", "IT"),
        ("CONS-7002", "picked_up", "DE"),
        ("CONS-7002", "in_transit", None),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_padding_around_identifiers_yields_the_same_events(data: st.DataObject) -> None:
    pad = st.text(" \t", max_size=3)
    padded = _MARKED.sub(lambda m: data.draw(pad) + m.group(1) + data.draw(pad), TEMPLATE)
    events = MAPPING.parse(padded.encode("latin-1"))
    assert [e.model_dump() for e in events] == [
        e.model_dump() for e in MAPPING.parse(IFTSTA.encode("latin-1"))
    ]
    assert _statuses(padded)[0]["locations"] == _statuses()[0]["locations"]
