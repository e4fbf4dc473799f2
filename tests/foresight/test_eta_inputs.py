"""Bad input to the arrival-time code: its configuration, the positions it reads from stored
events, and the keys its endpoint is asked for. Each gets a clear answer or is skipped;
nothing raises past it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from intermodal.config import ConfigError, Settings
from intermodal.engine.ids import iso, utcnow
from intermodal.foresight.eta_refresh import observed_position
from intermodal.store import open_store
from intermodal.store.tables import events


@pytest.mark.parametrize(
    ("foresight", "problem"),
    [
        ({"eta": {"enabled": False}}, "warnings.enabled needs eta.enabled"),
        ({"eta": {"refresh_seconds": 0}}, "foresight.eta.refresh_seconds"),
        ({"eta": {"baseline_low": 1.5}}, "foresight.eta.baseline_low"),
        ({"eta": {"odoo": "note"}}, "foresight.eta.odoo"),
        ({"eta": {"model": {"held_out": 1}}}, "foresight.eta.model.held_out"),
        ({"eta": {"model": {"min_trips": 1}}}, "foresight.eta.model.min_trips"),
        ({"warnings": {"confidence": "p99"}}, "foresight.warnings.confidence"),
        ({"warnings": {"open_after": 0}}, "foresight.warnings.open_after"),
        ({"eta": {"speed": 60}}, "foresight.eta.speed"),
        ({"radar": {}}, "foresight.radar"),
    ],
)
def test_a_wrong_foresight_section_is_named_in_the_error(
    make_settings: Callable[..., Settings], sqlite_url: str, foresight: dict[str, Any],
    problem: str,
) -> None:  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        make_settings({"hub": {"database": sqlite_url}, "foresight": foresight})
    assert problem in str(caught.value)


def test_no_section_runs_nothing_and_an_empty_one_runs_both_assists(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    assert make_settings({"hub": {"database": sqlite_url}}).foresight is None
    found = make_settings({"hub": {"database": sqlite_url}, "foresight": {}}).foresight
    assert found is not None and found.eta.enabled and found.warnings.enabled
    assert found.eta.model.enabled and found.eta.change_minutes == 30


HOSTILE_LOCATIONS: list[Any] = [
    "Denver",
    {"country": 5, "city": "Denver"},
    {"country": "US", "city": ["Denver"]},
    {"country": "ZZ", "city": "Atlantis"},
    {"city": "Denver"},
    None,
]


def test_stored_events_with_odd_locations_are_skipped_by_the_position_reader(
    sqlite_url: str,
) -> None:
    store = open_store(sqlite_url)
    rows = []
    for i, location in enumerate([{"country": "US", "city": "Memphis"}, *HOSTILE_LOCATIONS]):
        data = {"data": {"milestone": "in_transit", "location": location}}
        rows.append(_event(f"e{i}", f"2026-11-23T{10 + i:02d}:00:00.000000Z", orjson.dumps(data)))
    rows.append(_event("broken", "2026-11-23T23:00:00.000000Z", b"not json"))
    rows.append(_event("list", "2026-11-23T23:30:00.000000Z", b"[1, 2]"))
    with store.write() as conn:
        conn.execute(events.insert(), rows)
        found = observed_position(conn, "K")
    assert found is not None and found.recorded_at.hour == 10  # Memphis, the one placeable
    store.dispose()


def _event(event_id: str, at: str, data: bytes) -> dict[str, Any]:
    return {
        "event_id": event_id, "partner": "carrier", "source": "test",
        "type": "intermodal.shipment.milestone", "subject": "K", "time": at,
        "milestone": "in_transit", "occurred_at": at, "meaning_key": event_id,
        "outcome": "applied", "inbox_seq": 1, "receipt_id": "r", "recorded_at": iso(utcnow()),
        "correlation_id": "c", "data": data.decode(),
    }  # fmt: skip
