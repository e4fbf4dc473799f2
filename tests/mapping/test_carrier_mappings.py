"""The shipped carrier mappings (examples/partners/<carrier>/) on the samples written for
them from each vendor's documentation: milestones, times and offsets, places, tracking
numbers and shipment keys, and every code of every status table reachable from a payload."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from intermodal.canonical.events import ShipmentMilestone
from intermodal.cli import app
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping import load_mapping
from intermodal.mapping.spec import Mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
SAMPLES = {
    "fedex": "sample_track.json",
    "ups": "sample_track.json",
    "usps": "sample_track.json",
    "dhl": "sample_track.json",
    "easypost": "sample_tracker_updated.json",
    "shippo": "sample_track_updated.json",
}


@functools.cache
def mapping(carrier: str) -> Mapping:
    """Loaded once per carrier: mapping a message never changes the mapping."""
    return load_mapping(EXAMPLES / carrier / "mapping.yaml", carrier)


def sample(carrier: str) -> Any:
    return orjson.loads((EXAMPLES / carrier / SAMPLES[carrier]).read_bytes())


def milestones(carrier: str, document: Any | None = None) -> list[ShipmentMilestone]:
    raw = orjson.dumps(sample(carrier) if document is None else document)
    events = mapping(carrier).parse(raw)
    assert all(isinstance(e, ShipmentMilestone) for e in events)
    return [e for e in events if isinstance(e, ShipmentMilestone)]


def timeline(events: list[ShipmentMilestone]) -> list[tuple[str, str, str]]:
    """(subject, milestone, occurred_at with its offset) per event, in payload order."""
    return [(e.subject, e.data.milestone.value, e.data.occurred_at.isoformat()) for e in events]


# What each sample says, read off the payload by hand: the expected mapping result.
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "fedex": [
        ("SO-40217", "delivered", "2025-03-14T10:42:00-04:00"),
        ("SO-40217", "out_for_delivery", "2025-03-14T07:55:00-04:00"),
        ("SO-40217", "delivery_failed", "2025-03-13T15:06:00-04:00"),
        ("SO-40217", "out_for_delivery", "2025-03-13T08:02:00-04:00"),
        ("SO-40217", "in_transit", "2025-03-13T04:31:00-04:00"),
        ("SO-40217", "in_transit", "2025-03-12T21:48:00-05:00"),
        ("SO-40217", "in_transit", "2025-03-12T13:05:00-05:00"),
        ("SO-40217", "picked_up", "2025-03-11T17:20:00-06:00"),
        # OC (label data sent to FedEx) is known and asserts nothing
        ("770412858704", "exception", "2025-03-12T18:40:00-05:00"),
        ("770412858704", "in_transit", "2025-03-12T02:14:00-05:00"),
        ("770412858704", "picked_up", "2025-03-11T17:20:00-06:00"),
    ],
    "ups": [
        ("SO-40388", "delivered", "2025-11-03T10:45:12-06:00"),
        ("SO-40388", "out_for_delivery", "2025-11-03T07:10:30-06:00"),
        ("SO-40388", "exception", "2025-11-03T02:10:00-06:00"),
        ("SO-40388", "in_transit", "2025-11-02T23:15:00-06:00"),
        # 01:45 on the night clocks fell back: the second 01:45, as gmtOffset says
        ("SO-40388", "in_transit", "2025-11-02T01:45:00-05:00"),
        ("SO-40388", "in_transit", "2025-11-01T22:10:00-04:00"),
        ("SO-40388", "picked_up", "2025-11-01T16:32:05-04:00"),
        # M (label created) asserts nothing
    ],
    "usps": [
        ("9405511206214738662017", "delivered", "2025-01-17T13:22:00-07:00"),
        ("9405511206214738662017", "out_for_delivery", "2025-01-17T06:41:00-07:00"),
        ("9405511206214738662017", "delivery_failed", "2025-01-16T16:40:00-07:00"),
        ("9405511206214738662017", "out_for_delivery", "2025-01-16T07:05:00-07:00"),
        ("9405511206214738662017", "in_transit", "2025-01-16T05:10:00-07:00"),
        ("9405511206214738662017", "in_transit", "2025-01-15T21:55:00-07:00"),
        ("9405511206214738662017", "in_transit", "2025-01-14T19:12:00-08:00"),
        ("9405511206214738662017", "picked_up", "2025-01-14T15:48:00-08:00"),
    ],
    "dhl": [
        ("SO-40502", "delivered", "2025-03-31T11:20:00+02:00"),
        ("SO-40502", "out_for_delivery", "2025-03-31T08:05:00+02:00"),
        ("SO-40502", "customs_released", "2025-03-30T22:40:00+02:00"),
        ("SO-40502", "customs_hold", "2025-03-29T23:10:00+01:00"),
        # zone-less in the payload: Leipzig's clock, the day before summer time
        ("SO-40502", "in_transit", "2025-03-29T18:02:00+01:00"),
        ("SO-40502", "in_transit", "2025-03-28T14:35:00+08:00"),
        ("SO-40502", "picked_up", "2025-03-27T17:50:00+08:00"),
        # DHL Paket: every time zone-less, on the German clock across the change to summer time
        ("00340434471852096831", "delivered", "2025-03-31T13:47:00+02:00"),
        ("00340434471852096831", "in_transit", "2025-03-31T09:02:00+02:00"),
        ("00340434471852096831", "in_transit", "2025-03-30T04:15:00+02:00"),
        ("00340434471852096831", "in_transit", "2025-03-29T21:30:00+01:00"),
    ],
    "easypost": [
        ("9400136208070461718833", "picked_up", "2025-06-16T18:45:00-06:00"),
        ("9400136208070461718833", "in_transit", "2025-06-16T19:30:00-06:00"),
        ("9400136208070461718833", "in_transit", "2025-06-17T03:12:00-07:00"),
        ("9400136208070461718833", "out_for_delivery", "2025-06-18T07:58:00-07:00"),
        ("9400136208070461718833", "delivery_failed", "2025-06-18T14:31:00-07:00"),
        ("9400136208070461718833", "out_for_delivery", "2025-06-19T07:40:00-07:00"),
        ("9400136208070461718833", "delivered", "2025-06-19T11:05:00-07:00"),
    ],
    "shippo": [
        ("SO-40611", "picked_up", "2025-09-22T21:45:00+00:00"),
        ("SO-40611", "in_transit", "2025-09-23T03:10:00+00:00"),
        ("SO-40611", "in_transit", "2025-09-23T16:25:00+00:00"),
        ("SO-40611", "exception", "2025-09-24T09:15:00+00:00"),
        ("SO-40611", "out_for_delivery", "2025-09-25T12:05:00+00:00"),
        ("SO-40611", "delivery_failed", "2025-09-25T19:40:00+00:00"),
        ("SO-40611", "out_for_delivery", "2025-09-26T12:10:00+00:00"),
        ("SO-40611", "delivered", "2025-09-26T17:32:00+00:00"),
    ],
}


@pytest.mark.parametrize("carrier", sorted(SAMPLES))
def test_each_sample_maps_to_its_milestones_with_their_own_offsets(carrier: str) -> None:
    events = milestones(carrier)
    assert timeline(events) == EXPECTED[carrier]
    assert all(e.source == carrier for e in events)
    assert len({e.id for e in events}) == len(events), "event ids must be unique in a message"
    # the same answer polled or delivered again is the same events, so the hub takes it once
    assert [e.id for e in milestones(carrier)] == [e.id for e in events]


@pytest.mark.parametrize("carrier", sorted(SAMPLES))
def test_mapping_try_prints_every_sample_as_it_is_shipped(carrier: str) -> None:
    config = EXAMPLES / carrier / "hub.yaml"
    result = CliRunner().invoke(
        app,
        ["mapping", "try", carrier, str(EXAMPLES / carrier / SAMPLES[carrier]), "-c", str(config)],
    )
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(e["subject"], e["data"]["milestone"]) for e in lines] == [
        (subject, milestone) for subject, milestone, _ in EXPECTED[carrier]
    ]


def test_places_and_tracking_numbers_come_from_each_scan() -> None:
    fedex = milestones("fedex")
    assert fedex[0].data.location is not None
    assert fedex[0].data.location.model_dump(exclude_none=True) == {
        "city": "ATLANTA",
        "region": "GA",
        "postal_code": "30309",
        "country": "US",
    }
    assert {e.data.tracking_number for e in fedex} == {"770412858693", "770412858704"}
    ups = milestones("ups")
    assert [e.data.location.city for e in ups if e.data.location] == [
        "CHICAGO", "Chicago", "Hodgkins", "Hodgkins", "Louisville", "Louisville", "Indianapolis",
    ]  # fmt: skip
    assert {e.data.tracking_number for e in ups} == {"1Z4F71E80391562704"}
    # USPS leaves the country empty for domestic scans: read as US
    usps = milestones("usps")
    assert {(e.data.location.country, e.data.location.region) for e in usps if e.data.location} == {
        ("US", "AZ"),
        ("US", "OR"),
    }
    # DHL Paket events name a city but no country: the domestic service's country
    dhl = milestones("dhl")
    assert dhl[-1].data.location is not None
    assert (dhl[-1].data.location.city, dhl[-1].data.location.country) == ("Obertshausen", "DE")
    # a scan with no country has no location at all (a canonical Address needs one)
    doc = sample("easypost")
    first = doc["result"]["tracking_details"][1]
    first["tracking_location"]["country"] = None
    assert milestones("easypost", doc)[0].data.location is None


def test_exceptions_and_failed_deliveries_carry_the_carriers_reason() -> None:
    def reasons(carrier: str) -> dict[str, str | None]:
        return {
            e.data.occurred_at.isoformat(): e.data.reason
            for e in milestones(carrier)
            if e.data.milestone.value in ("exception", "delivery_failed", "customs_hold")
        }

    assert reasons("fedex") == {
        "2025-03-13T15:06:00-04:00": "Customer not available or business closed",
        "2025-03-12T18:40:00-05:00": "Package damaged, contents being inspected",
    }
    assert reasons("ups") == {
        "2025-11-03T02:10:00-06:00": "A mechanical failure has caused a delay."
        " We will update the delivery date as soon as possible."
    }
    assert reasons("usps") == {
        "2025-01-16T16:40:00-07:00": "Notice Left (No Authorized Recipient Available)"
    }
    assert reasons("dhl") == {
        "2025-03-29T23:10:00+01:00": "The import documents for this shipment are incomplete."
    }
    assert reasons("easypost") == {
        "2025-06-18T14:31:00-07:00": "Delivery Attempted - No Access to Delivery Location"
    }
    assert reasons("shippo") == {
        "2025-09-24T09:15:00+00:00": "A mechanical failure has caused a delay."
        " We will update the delivery date as soon as possible.",
        "2025-09-25T19:40:00+00:00": "The receiver was not available for delivery."
        " We'll make a second attempt the next business day.",
    }
    # a table reason wins over the carrier's words where the code says it all
    doc = sample("usps")
    doc["trackingEvents"][2]["eventCode"] = "04"
    refused = milestones("usps", doc)[2]
    assert (refused.data.milestone.value, refused.data.reason) == (
        "delivery_failed",
        "refused by the addressee",
    )


def test_the_shipment_key_falls_back_to_the_tracking_number_without_a_reference() -> None:
    fedex = sample("fedex")
    identifiers = fedex["output"]["completeTrackResults"][0]["trackResults"][0][
        "additionalTrackingInfo"
    ]["packageIdentifiers"]
    # FedEx's reference shows the identifier as one `value`; live answers send `values`
    identifiers[0] = {"type": "CUSTOMER_REFERENCE", "value": "SO-40217-B"}
    assert milestones("fedex", fedex)[0].subject == "SO-40217-B"
    del identifiers[0]
    assert milestones("fedex", fedex)[0].subject == "770412858693"

    ups = sample("ups")
    ups["trackResponse"]["shipment"][0]["package"][0]["referenceNumber"] = [
        {"type": "PACKAGE", "number": "WH-PICK-7781"}  # a package reference is not the key
    ]
    assert {e.subject for e in milestones("ups", ups)} == {"1Z4F71E80391562704"}

    dhl = sample("dhl")
    dhl["shipments"][0]["details"]["references"] = {"number": "SO-1", "type": "reference"}
    assert milestones("dhl", dhl)[0].subject == "4829173650"
    dhl["shipments"][0]["details"]["references"] = {"number": "SO-9", "type": "customer-reference"}
    assert milestones("dhl", dhl)[0].subject == "SO-9"  # one reference comes as an object

    shippo = sample("shippo")
    shippo["data"]["metadata"] = None
    assert {e.subject for e in milestones("shippo", shippo)} == {"1Z5R89390357567127"}


def test_ups_times_are_the_instants_ups_states_in_gmt() -> None:
    """Two independent statements in each activity agree: local date, time and offset
    give the gmtDate and gmtTime UPS sends beside them."""
    package = sample("ups")["trackResponse"]["shipment"][0]["package"][0]
    stated = [
        datetime.strptime(a["gmtDate"] + a["gmtTime"], "%Y%m%d%H:%M:%S").replace(tzinfo=UTC)
        for a in package["activity"]
        if a["status"]["type"] != "M"
    ]
    assert [e.data.occurred_at.astimezone(UTC) for e in milestones("ups")] == stated


def test_usps_times_are_the_instants_usps_states_in_gmt() -> None:
    events = sample("usps")["trackingEvents"]
    stated = [datetime.fromisoformat(e["GMTTimestamp"]) for e in events if e["eventCode"] != "GX"]
    assert [e.data.occurred_at for e in milestones("usps")] == stated


def test_usps_without_an_offset_takes_the_gmt_timestamp() -> None:
    doc = sample("usps")
    del doc["trackingEvents"][0]["GMTOffset"]
    assert milestones("usps", doc)[0].data.occurred_at.isoformat() == "2025-01-17T20:22:00+00:00"


@given(
    local=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)),
    hours=st.integers(min_value=-12, max_value=14),
    minutes=st.sampled_from([0, 30, 45]),
    padded=st.booleans(),
)
def test_usps_offsets_with_a_one_digit_hour_read_like_padded_ones(
    local: datetime, hours: int, minutes: int, padded: bool
) -> None:
    """USPS writes "-7:00"; any offset, padded or not, places the local time right."""
    local = local.replace(microsecond=0)
    sign = "-" if hours < 0 else "+"
    offset = (
        f"{sign}{abs(hours):02d}:{minutes:02d}" if padded else f"{sign}{abs(hours)}:{minutes:02d}"
    )
    doc = sample("usps")
    event = doc["trackingEvents"][0]
    event["eventTimestamp"] = local.isoformat()
    event["GMTOffset"] = offset
    delta = timedelta(hours=abs(hours), minutes=minutes) * (-1 if hours < 0 else 1)
    assert milestones("usps", doc)[0].data.occurred_at == local.replace(tzinfo=timezone(delta))


@given(local=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)))
def test_dhl_paket_times_are_read_on_the_german_clock(local: datetime) -> None:
    local = local.replace(microsecond=0)
    doc = sample("dhl")
    doc["shipments"][1]["events"][0]["timestamp"] = local.isoformat()
    occurred = next(e for e in milestones("dhl", doc) if e.subject == "00340434471852096831")
    assert occurred.data.occurred_at == local.replace(tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_zone_less_scan_nobody_names_a_zone_for_is_skipped_and_the_rest_applied() -> None:
    """No default clock: a FedEx scan without its offset, a UPS activity without gmtOffset
    or a DHL scan in a country of several zones is not read as UTC, hours off. That scan
    alone is skipped, with its path and why; the message's other scans still apply."""
    fedex = sample("fedex")
    fedex["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"][2]["date"] = (
        "2025-03-13T15:06:00"
    )
    ups = sample("ups")
    del ups["trackResponse"]["shipment"][0]["package"][0]["activity"][3]["gmtOffset"]
    dhl = sample("dhl")
    dhl["shipments"][0]["events"][5]["location"]["address"]["countryCode"] = "US"
    dhl["shipments"][0]["events"][5]["timestamp"] = "2025-03-28T14:35:00"
    for carrier, doc, value, lost in (
        ("fedex", fedex, "2025-03-13T15:06:00", "2025-03-13T15:06:00-04:00"),
        ("ups", ups, "2025-11-02T23:15:00", "2025-11-02T23:15:00-06:00"),
        ("dhl", dhl, "2025-03-28T14:35:00", "2025-03-28T14:35:00+08:00"),
    ):
        normalized = mapping(carrier).normalize(orjson.dumps(doc))
        applied = [e for e, _ in normalized if isinstance(e, ShipmentMilestone)]
        assert timeline(applied) == [t for t in EXPECTED[carrier] if t[2] != lost], carrier
        [skipped] = normalized.skipped
        assert "has no UTC offset" in skipped.reason and value not in skipped.reason, carrier
        assert skipped.path.startswith("$"), carrier
        with pytest.raises(NormalizeError):  # parse(), for samples, stays all or nothing
            mapping(carrier).parse(orjson.dumps(doc))


def test_an_unknown_code_skips_its_scan_naming_where_the_code_is() -> None:
    doc = sample("fedex")
    doc["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"][1]["eventType"] = "QQ"
    normalized = mapping("fedex").normalize(orjson.dumps(doc))
    assert len(normalized) == len(EXPECTED["fedex"]) - 1
    assert [s.reason for s in normalized.skipped] == [
        "the status code is not in the status table of partner fedex"
        f" (add it to statuses: in {EXAMPLES / 'fedex' / 'mapping.yaml'})"
    ]
    assert normalized.skipped[0].path.endswith("[1].scan.eventType")
    doc = sample("shippo")
    doc["data"]["tracking_history"][1]["substatus"]["code"] = "teleported"
    normalized = mapping("shippo").normalize(orjson.dumps(doc))
    [skipped] = normalized.skipped
    assert skipped.path == "$.data.tracking_history[1]"
    assert "is not in the status table" in skipped.reason and "teleported" not in skipped.reason


def test_a_tracker_webhook_repeats_history_under_the_same_ids() -> None:
    """EasyPost and Shippo send the whole history with every update: the entries the hub
    has seen come back with the ids it took them under, so only the new one is new."""
    for carrier, history in (
        ("easypost", ("result", "tracking_details")),
        ("shippo", ("data", "tracking_history")),
    ):
        full = sample(carrier)
        earlier = copy.deepcopy(full)
        earlier[history[0]][history[1]] = earlier[history[0]][history[1]][:-1]
        before = [e.id for e in milestones(carrier, earlier)]
        after = [e.id for e in milestones(carrier, full)]
        assert after[: len(before)] == before and len(after) == len(before) + 1, carrier


def test_other_messages_match_no_message_kind() -> None:
    for carrier, body in (
        ("easypost", {"object": "Event", "description": "batch.updated", "result": {}}),
        ("shippo", {"event": "transaction_created", "data": {}}),
        ("fedex", {"errors": [{"code": "TRACKING.TRACKINGNUMBER.NOTFOUND"}]}),
    ):
        with pytest.raises(NormalizeError, match="no message kind of this mapping matches"):
            mapping(carrier).parse(orjson.dumps(body))


# One scan per status-table key, built by hand the way each carrier would send that code:
# a key the mapping's status expression can never produce would be a dead row.
def _fedex_scan(code: str) -> Any:
    doc = sample("fedex")
    result = doc["output"]["completeTrackResults"][0]["trackResults"][0]
    result["scanEvents"] = [result["scanEvents"][0] | {"eventType": code}]
    doc["output"]["completeTrackResults"] = doc["output"]["completeTrackResults"][:1]
    return doc


def _ups_scan(key: str) -> Any:
    kind, _, code = key.partition("/")
    doc = sample("ups")
    package = doc["trackResponse"]["shipment"][0]["package"][0]
    scan = package["activity"][0]
    scan["status"] = {"type": kind, "code": code or "ZZ", "description": "as sent"}
    package["activity"] = [scan]
    return doc


def _usps_scan(code: str) -> Any:
    doc = sample("usps")
    doc["trackingEvents"] = [doc["trackingEvents"][0] | {"eventCode": code}]
    return doc


def _dhl_scan(key: str) -> Any:
    doc = sample("dhl")
    shipment = doc["shipments"][0]
    event = shipment["events"][0]
    if key.startswith("express/"):
        event |= {"statusCode": "transit", "status": key.removeprefix("express/")}
    else:
        shipment["service"] = "parcel-de"
        event |= {"statusCode": key, "status": "ZZ"}
    doc["shipments"] = [shipment | {"events": [event]}]
    return doc


def _easypost_scan(key: str) -> Any:
    status, _, detail = key.partition("/")
    doc = sample("easypost")
    detail_entry = doc["result"]["tracking_details"][1]
    detail_entry |= {"status": status, "status_detail": detail or "status_update"}
    doc["result"]["tracking_details"] = [detail_entry]
    return doc


def _shippo_scan(key: str) -> Any:
    status, _, code = key.partition("/")
    doc = sample("shippo")
    entry = doc["data"]["tracking_history"][1]
    entry["status"] = status
    if code:
        entry["substatus"] = {"code": code, "text": "as sent", "action_required": False}
    else:
        del entry["substatus"]
    doc["data"]["tracking_history"] = [entry]
    return doc


BUILDERS: dict[str, Callable[[str], Any]] = {
    "fedex": _fedex_scan,
    "ups": _ups_scan,
    "usps": _usps_scan,
    "dhl": _dhl_scan,
    "easypost": _easypost_scan,
    "shippo": _shippo_scan,
}


@pytest.mark.parametrize("carrier", sorted(BUILDERS))
def test_every_status_table_key_is_reachable_and_maps_as_written(carrier: str) -> None:
    table = mapping(carrier).statuses
    assert table, carrier
    for key, entry in table.items():
        events = milestones(carrier, BUILDERS[carrier](key))
        if entry is None:
            assert events == [], f"{carrier} {key}: a known code without a milestone"
        else:
            assert [e.data.milestone for e in events] == [entry.milestone], f"{carrier} {key}"
            if entry.reason is not None:
                assert events[0].data.reason == entry.reason, f"{carrier} {key}"
