"""The canonical model: what it accepts, what it refuses (and how it says so), its schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intermodal.canonical import MilestoneType, Money, parse_event, parse_events
from intermodal.canonical.events import EventError, ShipmentMilestone, event_to_json
from intermodal.canonical.schemas import generate

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "acme-carrier",
    "type": "intermodal.shipment.milestone",
    "subject": "SHP-1",
    "time": "2026-11-23T10:00:00Z",
    "datacontenttype": "application/json",
    "data": {"milestone": "picked_up", "occurred_at": "2026-11-23T10:00:00Z"},
}


def test_public_contract_example_parses() -> None:
    event = parse_event(EXAMPLE)
    assert isinstance(event, ShipmentMilestone)
    assert event.data.milestone is MilestoneType.PICKED_UP
    assert event.subject == "SHP-1"


def test_schemas_on_disk_match_the_code() -> None:
    """Fails when a model changes without `make schemas`: the files are the contract."""
    on_disk = {
        p.name: p.read_text(encoding="utf-8") for p in (ROOT / "schemas" / "v1").glob("*.json")
    }
    assert on_disk == generate(), "schemas/v1 drifted from the code: run `make schemas`"


def test_event_schema_is_a_discriminated_union_of_every_type() -> None:
    schema = json.loads(generate()["event.json"])
    assert set(schema["discriminator"]["mapping"]) == {
        "intermodal.shipment.upserted",
        "intermodal.shipment.milestone",
        "intermodal.pod.received",
        "intermodal.charge.recorded",
        "intermodal.customs.updated",
        "intermodal.position.reported",
        "intermodal.vehicle.assigned",
    }


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"time": "2026-11-23T10:00:00"}, "time"),  # no zone
        ({"specversion": "0.3"}, "specversion"),
        ({"subject": "has space"}, "subject"),
        (
            {"data": {"milestone": "teleported", "occurred_at": "2026-11-23T10:00:00Z"}},
            "data.milestone",
        ),
        ({"data": {"milestone": "picked_up"}}, "data.occurred_at"),
        ({"type": "intermodal.shipment.exploded"}, "type"),
        ({"Bad-Ext": "x"}, "Bad-Ext"),
    ],
)
def test_invalid_events_name_the_field(change: dict[str, object], loc: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event({**EXAMPLE, **change})
    assert any(p["loc"] == loc for p in info.value.problems), info.value.problems


def test_array_errors_point_at_the_broken_element() -> None:
    bad = {
        **EXAMPLE,
        "id": "evt-2",
        "data": {"milestone": "nope", "occurred_at": "2026-11-23T10:00:00Z"},
    }
    with pytest.raises(EventError) as info:
        parse_events(json.dumps([EXAMPLE, bad]).encode())
    assert info.value.problems[0]["loc"] == "1.data.milestone"


@pytest.mark.parametrize(
    "raw", [b"", b"nul", b"[]", b"42", b'"x"', b"\xff\xfe", b"[1]", b'{"a":NaN}']
)
def test_non_events_are_refused(raw: bytes) -> None:
    with pytest.raises(EventError):
        parse_events(raw)


def test_extension_attributes_survive_a_round_trip() -> None:
    event = parse_event({**EXAMPLE, "correlationid": "c-1"})
    assert json.loads(event_to_json(event))["correlationid"] == "c-1"


def test_money_rejects_unknown_currency_and_keeps_decimals() -> None:
    assert str(Money(amount="12.30", currency="EUR").amount) == "12.30"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ISO 4217"):
        Money(amount="1", currency="EUX")  # type: ignore[arg-type]


def test_upsert_subject_must_equal_the_shipment_key() -> None:
    event = {**EXAMPLE, "type": "intermodal.shipment.upserted", "data": {"key": "SHP-2"}}
    with pytest.raises(EventError, match=r"data\.key must equal the event's subject") as raised:
        parse_event(event)
    assert raised.value.problems[0]["loc"] == "data" and "SHP-2" not in str(raised.value)
