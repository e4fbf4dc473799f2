"""Carrier times without a zone: the event's `zone:`, the mapping's `timezone:`, and
`$datetime(date, time[, zone])` for carriers that split date and time (UPS, FedEx)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from intermodal.canonical.events import EventType, PodReceived, ShipmentMilestone
from intermodal.canonical.model import MilestoneEvent
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping.expressions import Expression, ExpressionError
from intermodal.mapping.spec import DATA_TIMES, MappingError, mapping_from_data
from intermodal.mapping.times import TimeInputError, join_datetime, zone_of

# A UPS-style tracking response, written for these tests: activity dates and times are
# split and local to the scan, with the scan's UTC offset given beside them.
UPS_LIKE = {
    "trackResponse": {
        "shipment": [
            {
                "package": [
                    {
                        "trackingNumber": "1Z999AA10123456784",
                        "referenceNumber": [{"code": "01", "value": "SO-4471"}],
                        "activity": [
                            {
                                "location": {"address": {"city": "ATLANTA", "countryCode": "US"}},
                                "status": {"type": "D", "code": "KB"},
                                "date": "20240106",
                                "time": "142200",
                                "gmtOffset": "-05:00",
                            },
                            {
                                "location": {"address": {"city": "KÖLN", "countryCode": "DE"}},
                                "status": {"type": "I", "code": "DP"},
                                "date": "20240105",
                                "time": "0810",
                                "gmtOffset": "+01:00",
                            },
                            {
                                "location": {"address": {"city": "PHILADELPHIA"}},
                                "status": {"type": "P", "code": "PU"},
                                "date": "2024-01-04",
                                "time": "17:05:30",
                            },
                        ],
                    }
                ]
            }
        ]
    }
}


def ups_mapping(**top: Any) -> dict[str, Any]:
    return {
        "reader": "json",
        "messages": [
            {
                "name": "track",
                "each": "trackResponse.shipment.package.activity",
                "event": {
                    "id": "'ups-' & $doc.trackResponse.shipment[0].package[0].trackingNumber"
                    " & '-' & date & time",
                    "subject": "$doc.trackResponse.shipment[0].package[0].referenceNumber[0].value",
                    "time": "$datetime(date, time)",
                    "zone": "gmtOffset",
                    "status": "status.type",
                },
            }
        ],
        "statuses": {"D": "delivered", "I": "in_transit", "P": "picked_up"},
        **top,
    }


def test_split_times_read_on_each_scans_zone_else_the_partners_clock() -> None:
    mapping = mapping_from_data(ups_mapping(timezone="America/New_York"), "ups")
    events = mapping.parse(orjson.dumps(UPS_LIKE))
    times = [e.data.occurred_at for e in events if isinstance(e, ShipmentMilestone)]
    assert [t.astimezone(UTC).isoformat() for t in times] == [
        "2024-01-06T19:22:00+00:00",  # 14:22 at -05:00
        "2024-01-05T07:10:00+00:00",  # 08:10 in Cologne at +01:00
        "2024-01-04T22:05:30+00:00",  # no offset given: the mapping's America/New_York (EST)
    ]
    assert [e.time for e in events] == times


def test_a_zone_less_json_time_without_any_zone_names_its_path_and_the_fix() -> None:
    mapping = mapping_from_data(ups_mapping(), "ups")  # no timezone: JSON has no default
    with pytest.raises(NormalizeError) as caught:
        mapping.parse(orjson.dumps(UPS_LIKE))
    assert caught.value.path == "$.trackResponse.shipment.package.activity[2]"
    assert "event.time has no UTC offset" in caught.value.reason
    assert "2024-01-04T17:05:30" not in caught.value.reason  # the path names it, not the text
    assert "`zone:` gave nothing" in caught.value.reason and "timezone:" in caught.value.reason


def test_an_offset_in_the_payload_wins_over_zone_and_timezone() -> None:
    raw = ups_mapping(timezone="Asia/Tokyo")
    raw["messages"][0]["event"]["time"] = "date & 'T' & time"
    doc = {"trackResponse": {"shipment": [{"package": [{"trackingNumber": "1Z1",
           "referenceNumber": [{"value": "S-1"}], "activity": [
               {"status": {"type": "D"}, "date": "2024-03-01", "time": "09:00:00Z",
                "gmtOffset": "+09:00"}]}]}]}}  # fmt: skip
    (event,) = mapping_from_data(raw, "ups").parse(orjson.dumps(doc))
    assert event.time == datetime(2024, 3, 1, 9, tzinfo=UTC)


def test_a_bad_zone_in_the_payload_names_the_zone_path() -> None:
    doc = orjson.loads(orjson.dumps(UPS_LIKE))
    doc["trackResponse"]["shipment"][0]["package"][0]["activity"][1]["gmtOffset"] = "Mars/Olympus"
    with pytest.raises(NormalizeError) as caught:
        mapping_from_data(ups_mapping(timezone="UTC"), "ups").parse(orjson.dumps(doc))
    assert caught.value.path == "$.trackResponse.shipment.package.activity[1].gmtOffset"
    assert "event.zone: not an IANA time zone name" in caught.value.reason
    assert "Mars" not in caught.value.reason


def test_a_bad_split_time_names_the_argument_it_came_from() -> None:
    doc = orjson.loads(orjson.dumps(UPS_LIKE))
    doc["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["time"] = "2:22 PM"
    with pytest.raises(NormalizeError) as caught:
        mapping_from_data(ups_mapping(timezone="UTC"), "ups").parse(orjson.dumps(doc))
    assert caught.value.path == "$.trackResponse.shipment.package.activity[0].time"
    assert "time is neither HHMM[SS] nor HH:MM[:SS[.fff]]" in caught.value.reason
    assert "2:22 PM" not in caught.value.reason
    doc["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["time"] = "142200"
    doc["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["date"] = "20240230"
    with pytest.raises(NormalizeError) as caught:
        mapping_from_data(ups_mapping(timezone="UTC"), "ups").parse(orjson.dumps(doc))
    assert caught.value.path == "$.trackResponse.shipment.package.activity[0].date"
    assert "not a real date" in caught.value.reason


def test_a_misspelt_timezone_stops_the_mapping_from_loading() -> None:
    with pytest.raises(MappingError, match="'Europe/Pariss' is not an IANA time zone name"):
        mapping_from_data(ups_mapping(timezone="Europe/Pariss"), "ups")


def test_edi_mappings_keep_utc_as_their_default() -> None:
    x12 = mapping_from_data({"reader": "x12", "messages": ups_mapping()["messages"]}, "tl")
    assert x12.default_zone is UTC
    assert mapping_from_data(ups_mapping(), "ups").default_zone is None
    chicago = mapping_from_data(ups_mapping(timezone="America/Chicago"), "ups")
    assert chicago.default_zone == ZoneInfo("America/Chicago")


def test_times_inside_data_are_localized_too() -> None:
    raw = {
        "reader": "json",
        "timezone": "Europe/Amsterdam",
        "messages": [
            {
                "name": "pod",
                "type": "intermodal.pod.received",
                "event": {
                    "id": "'pod-' & ref",
                    "subject": "ref",
                    "time": "$datetime(day, clock)",
                    "zone": "tz",
                    "data": "pod",
                },
            }
        ],
    }
    document = {
        "ref": "S-9",
        "day": "20240702",
        "clock": "1015",
        "pod": {"delivered_at": "2024-07-02T10:15:00", "signed_by": "J. de Vries"},
    }
    body = orjson.dumps(document)
    ((event, item),) = mapping_from_data(raw, "nl").normalize(body)
    assert isinstance(event, PodReceived)
    assert event.data.delivered_at == datetime(2024, 7, 2, 8, 15, tzinfo=UTC)  # CEST, +02:00
    assert item["data"]["delivered_at"] == "2024-07-02T10:15:00+02:00"
    document["tz"] = "-04:00"  # the item's own zone beats the mapping's
    ((event, _),) = mapping_from_data(raw, "nl").normalize(orjson.dumps(document))
    assert event.time == datetime(2024, 7, 2, 14, 15, tzinfo=UTC)


def _aware_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every time field (`Instant`, read by pydantic as `datetime`) under a canonical model
    (`*` for list items)."""
    found: set[tuple[str, ...]] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        steps = (*prefix, name)
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is list:
            steps, args = (*steps, "*"), typing.get_args(args[0]) or args
        for candidate in (annotation, *args):
            if candidate is datetime or typing.get_args(candidate)[:1] == (datetime,):
                found.add(steps)
            elif isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found |= _aware_paths(candidate, steps)
    return found


def test_data_times_cover_every_time_of_the_canonical_models() -> None:
    from intermodal.canonical.events import EVENT_ADAPTER  # noqa: F401  (models built)
    from intermodal.canonical.model import (
        Charge,
        CustomsStatus,
        PositionReport,
        ProofOfDelivery,
        Shipment,
        VehicleAssignment,
    )

    models: dict[EventType, type[BaseModel]] = {
        EventType.SHIPMENT_MILESTONE: MilestoneEvent,
        EventType.POD_RECEIVED: ProofOfDelivery,
        EventType.CUSTOMS_UPDATED: CustomsStatus,
        EventType.CHARGE_RECORDED: Charge,
        EventType.SHIPMENT_UPSERTED: Shipment,
        EventType.POSITION_REPORTED: PositionReport,
        EventType.VEHICLE_ASSIGNED: VehicleAssignment,
    }
    assert set(models) == set(EventType)
    for kind, model in models.items():
        assert set(DATA_TIMES[kind]) == _aware_paths(model), kind


# -- $datetime ------------------------------------------------------------------------

ZONES: list[tzinfo] = [
    UTC,
    ZoneInfo("America/Chicago"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Australia/Lord_Howe"),
    timezone(timedelta(hours=-3, minutes=-30)),
]


def _written_offset(zone: tzinfo, moment: datetime) -> timedelta:
    """The offset a partner writes for `zone` at `moment`: whole minutes, as ISO 8601 has
    them. Before about 1920 many zones kept local mean time to the second (Asia/Kolkata
    +05:21:10 in 1906); a document carries it cut to the minute, and that is the instant
    the document names."""
    delta = zone.utcoffset(moment.replace(tzinfo=None)) or timedelta(0)
    minutes = abs(int(delta.total_seconds())) // 60
    return timedelta(minutes=-minutes if delta < timedelta(0) else minutes)


def _offset(zone: tzinfo, moment: datetime) -> str:
    delta = _written_offset(zone, moment)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _name(zone: tzinfo) -> str:
    return zone.key if isinstance(zone, ZoneInfo) else _offset(zone, datetime(2024, 1, 1))


@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31)),
    zone=st.none() | st.sampled_from(ZONES),
    in_time=st.booleans(),
)
@example(moment=datetime(1906, 1, 1), zone=ZoneInfo("Asia/Kolkata"), in_time=True)
def test_datetime_any_valid_pair_in_either_format_is_the_same_instant(
    moment: datetime, zone: tzinfo | None, in_time: bool
) -> None:
    whole = moment.replace(microsecond=0)
    compact_date, iso_date = whole.strftime("%Y%m%d"), whole.strftime("%Y-%m-%d")
    pairs = [
        (compact_date, whole.strftime("%H%M%S")),
        (iso_date, whole.strftime("%H:%M:%S")),
        (compact_date, whole.strftime("%H:%M:%S")),
        (iso_date, whole.strftime("%H%M%S")),
    ]
    if whole.second == 0:
        pairs += [(compact_date, whole.strftime("%H%M")), (iso_date, whole.strftime("%H:%M"))]
    fraction = f"{moment.microsecond:06d}"
    precise = [(iso_date, whole.strftime("%H:%M:%S") + "." + fraction)]
    expected = moment.replace(tzinfo=zone) if zone is not None else moment
    for pairs_, want in ((pairs, expected.replace(microsecond=0)), (precise, expected)):
        for date, time in pairs_:
            if zone is not None and in_time:  # the offset travels on the time instead
                result = join_datetime(date, time + _offset(zone, moment), "Pacific/Fiji")
                want = want.replace(tzinfo=timezone(_written_offset(zone, moment)))
            elif zone is not None:
                result = join_datetime(date, time, _name(zone))
            else:
                result = join_datetime(date, time)
            assert result is not None
            got = datetime.fromisoformat(result)
            assert (got.tzinfo is None) == (zone is None)
            # the same instant: PEP 495 makes a time in a gap or fold unequal to any time in
            # another zone under ==, so compare what the instants are, as numbers
            same = got == want if zone is None else got.timestamp() == want.timestamp()
            assert same, (date, time, zone, result)


@pytest.mark.parametrize(
    ("args", "argument", "text"),
    [
        (("2024-1-5", "0810"), "date", "neither YYYYMMDD nor YYYY-MM-DD"),
        ((20240105, "0810"), "date", "neither YYYYMMDD nor YYYY-MM-DD"),
        (("20240230", "0810"), "date", "not a real date"),
        (("20240105", "2460"), "time", "not a time of day"),
        (("20240105", "8:10"), "time", "neither HHMM[SS]"),
        (("20240105", "0810+25:00"), "time", "not a UTC offset within 18 hours"),
        (("20240105", "0810", "Nowhere/City"), "zone", "not an IANA time zone name"),
        (("20240105", "0810", 5), "zone", "zone must be text"),
    ],
)
def test_datetime_refuses_what_is_not_a_date_time_or_zone(
    args: tuple[Any, ...], argument: str, text: str
) -> None:
    with pytest.raises(TimeInputError) as caught:
        join_datetime(*args)
    assert caught.value.argument == argument and text in str(caught.value)
    given = args[("date", "time", "zone").index(argument)]
    assert str(given) not in str(caught.value)  # the message reaches receipts: no values


def test_datetime_gives_nothing_for_a_missing_part_and_reads_nanoseconds() -> None:
    assert join_datetime(None, "0810") is None and join_datetime("20240105", "") is None
    assert join_datetime("2024-01-05", "08:10:00.123456789") == "2024-01-05T08:10:00.123456"
    assert zone_of("-0530") == timezone(-timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("given", "hours", "minutes"),
    [("-7:00", -7, 0), ("-07:00", -7, 0), ("-0700", -7, 0), ("-07", -7, 0), ("+5:30", 5, 30),
     ("+530", 5, 30), ("+14", 14, 0), ("-9", -9, 0)],
)  # fmt: skip
def test_zone_reads_the_short_offsets_carriers_write(given: str, hours: int, minutes: int) -> None:
    """USPS writes `GMTOffset: -7:00`, other APIs `-07`: the same offset as `-07:00`."""
    sign = -1 if hours < 0 else 1
    assert zone_of(given) == timezone(sign * timedelta(hours=abs(hours), minutes=minutes))


@pytest.mark.parametrize("given", ["-7:0", "+123:00", "-19:00", "+05:60", "7:00", "--7"])
def test_zone_refuses_what_is_not_an_offset(given: str) -> None:
    with pytest.raises(ValueError, match="not"):
        zone_of(given)


def test_datetime_is_callable_from_any_expression() -> None:
    many = Expression("activity.$datetime(date, time, 'Europe/Paris')")
    assert many.evaluate({"activity": [{"date": "20240105", "time": "0810"}]}) == (
        "2024-01-05T08:10:00+01:00"
    )
    with pytest.raises(ExpressionError) as caught:
        Expression("$datetime(scan.date, scan.time)").evaluate(
            {"scan": {"date": "x", "time": "0810"}}
        )
    assert caught.value.path == ("scan", "date")
