"""The arrival-time core without a database: the baseline, routes, anchoring, history.

Properties where the rule is general: the baseline never arrives sooner for a longer
drive, every interval holds its ETA, no ETA is earlier than now, and the simulated
history is the same for the same seed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intermodal.foresight import history
from intermodal.foresight.eta import (
    Anchor,
    BaselineSettings,
    Snapshot,
    anchor_of,
    anchored,
    baseline_minutes,
    estimate,
    legs,
    next_stop,
    plan_route,
    snapshot_of,
)
from intermodal.foresight.geo import Point, Position, locate, road_km

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def snapshot(remaining: float, speed: float | None = None, stops_left: int = 1) -> Snapshot:
    return Snapshot("US:chicago", "US:dallas", "steady-freight", NOW, -87.6, remaining, speed,
                    60.0, 30.0, stops_left)  # fmt: skip


def document(*stops: tuple[str, str | None], carrier: str | None = "steady-freight") -> dict:
    placed = [
        {"sequence": i + 1, "kind": "pickup" if i == 0 else "delivery",
         "address": {"country": country, **({"city": city} if city else {})}}
        for i, (country, city) in enumerate(stops)
    ]  # fmt: skip
    parties = [{"role": "carrier", "name": carrier}] if carrier else []
    return {"shipment": {"data": {"key": "K", "stops": placed, "parties": parties}}}


speeds = st.one_of(st.none(), st.floats(min_value=0, max_value=200))
distances = st.floats(min_value=0, max_value=5000)


@given(distances, distances, speeds, st.integers(min_value=1, max_value=5))
def test_the_baseline_never_arrives_sooner_for_a_longer_drive(
    a: float, b: float, speed: float | None, stops: int
) -> None:
    near, far = sorted((a, b))
    settings = BaselineSettings()
    assert baseline_minutes(snapshot(near, speed, stops), settings) <= baseline_minutes(
        snapshot(far, speed, stops), settings
    )


def test_the_baseline_divides_by_the_recent_speed_or_the_lane_default() -> None:
    settings = BaselineSettings(default_speed_kmh=60, min_speed_kmh=15, dwell_per_stop_min=30)
    assert baseline_minutes(snapshot(120, 80), settings) == pytest.approx(90)
    assert baseline_minutes(snapshot(120, None), settings) == pytest.approx(120)
    assert baseline_minutes(snapshot(120, 3), settings) == pytest.approx(120)  # standing
    assert baseline_minutes(snapshot(120, 80, stops_left=3), settings) == pytest.approx(150)
    lanes = BaselineSettings(default_speed_kmh=60, lane_speeds_kmh={"US:chicago>US:dallas": 40})
    assert baseline_minutes(snapshot(120, None), lanes) == pytest.approx(180)


minutes = st.floats(min_value=-3000, max_value=3000)


@given(minutes, minutes, minutes, st.integers(min_value=-2000, max_value=2000))
def test_an_interval_holds_its_eta_and_nothing_is_earlier_than_now(
    a: float, b: float, c: float, offset: int
) -> None:
    start = NOW + timedelta(minutes=offset)
    eta = anchored(start, (a, b, c), NOW)
    assert eta.p10 <= eta.at <= eta.p90
    assert eta.p10 >= NOW


@given(distances, speeds)
def test_every_baseline_estimate_has_its_eta_inside_its_interval(
    remaining: float, speed: float | None
) -> None:
    route = plan_route("K", document(("US", "Chicago"), ("US", "Dallas")), "in_transit", NOW)
    assert not isinstance(route, str)
    anchor = Anchor(route.stops[0].point, NOW, "telematics", speed)
    found = estimate(route, anchor, legs(route, anchor), snapshot(remaining, speed), NOW,
                     BaselineSettings())  # fmt: skip
    assert found.delivery.p10 <= found.delivery.at <= found.delivery.p90
    assert found.next.p10 <= found.next.at <= found.next.p90


def test_an_overdue_truck_is_due_now_with_the_doubt_it_had() -> None:
    eta = anchored(NOW - timedelta(hours=5), (60, 120, 240), NOW)
    assert eta.at == eta.p10 == NOW
    assert eta.p90 == NOW + timedelta(minutes=120)


def test_a_route_places_its_stops_and_says_why_when_it_cannot() -> None:
    route = plan_route("K", document(("US", "Chicago"), ("US", "Dallas")), "picked_up", NOW)
    assert not isinstance(route, str)
    assert [s.place for s in route.stops] == ["US:chicago", "US:dallas"]
    assert route.carrier == "steady-freight" and route.picked_up_at == NOW
    booked = plan_route("K", document(("US", "Chicago"), ("US", "Dallas")), "booked", NOW)
    assert not isinstance(booked, str) and booked.picked_up_at is None
    country_only = plan_route("K", document(("US", "Chicago"), ("DE", None)), None, None)
    assert not isinstance(country_only, str) and country_only.stops[1].precision == "country"
    assert plan_route("K", document(("US", "Chicago"), ("ZZ", "Nowhere")), None, None) == (
        "stop 2 (Nowhere, ZZ) cannot be placed"
    )
    assert plan_route("K", {}, None, None) == "the shipment has no stops"


def test_the_next_stop_is_the_first_the_truck_has_not_passed() -> None:
    doc = document(("US", "Chicago"), ("US", "Memphis"), ("US", "Houston"))
    route = plan_route("K", doc, "in_transit", NOW)
    assert not isinstance(route, str)
    _chicago, memphis, houston = (s.point for s in route.stops)
    assert next_stop(route, None) == 1
    assert next_stop(route, Point(39.0, -89.0)) == 1  # between Chicago and Memphis
    assert next_stop(route, Point(32.5, -92.5)) == 2  # past Memphis, towards Houston
    before = plan_route("K", doc, "dispatched", None)
    assert not isinstance(before, str) and next_stop(before, memphis) == 0
    anchor = Anchor(Point(32.5, -92.5), NOW, "telematics", 80.0)
    found = legs(route, anchor)
    assert found.next_index == 2
    assert found.total_km == pytest.approx(road_km(anchor.point, houston))


def test_the_anchor_is_the_newest_known_place() -> None:
    route = plan_route("K", document(("US", "Chicago"), ("US", "Dallas")), "in_transit", NOW)
    assert not isinstance(route, str)
    fix = Position("K", 36.0, -94.0, NOW + timedelta(hours=2), speed_kmh=70.0, accuracy_m=15)
    assert anchor_of(route, fix, NOW).source == "telematics"
    place = locate("US", "Memphis")
    assert place is not None
    scan = Position("K", place[0].latitude, place[0].longitude, NOW + timedelta(hours=1),
                    accuracy_m=10_000.0)  # fmt: skip
    assert anchor_of(route, scan, NOW).source == "milestone"
    stale = Position("K", 40.0, -88.0, NOW - timedelta(hours=1), speed_kmh=60.0)  # before pickup
    assert anchor_of(route, stale, NOW) == Anchor(route.stops[0].point, NOW, "pickup")
    assert anchor_of(route, None, NOW).source == "pickup"
    planned = plan_route("K", document(("US", "Chicago"), ("US", "Dallas")), "booked", None)
    assert not isinstance(planned, str)
    assert anchor_of(planned, None, NOW) == Anchor(planned.stops[0].point, NOW, "plan")


def test_a_snapshot_counts_time_since_the_pickup_and_the_dwell_at_the_dock() -> None:
    doc = document(("US", "Chicago"), ("US", "Dallas"))
    doc["shipment"]["data"]["stops"][0]["window"] = {
        "start": "2026-11-23T11:00:00Z", "end": "2026-11-23T13:00:00Z"
    }  # fmt: skip
    route = plan_route("K", doc, "in_transit", NOW)
    assert not isinstance(route, str)
    anchor = Anchor(Point(36.0, -94.0), NOW + timedelta(hours=3), "telematics", 72.0)
    shot = snapshot_of(route, anchor, legs(route, anchor))
    assert (shot.origin, shot.destination, shot.carrier) == ("US:chicago", "US:dallas",
                                                             "steady-freight")  # fmt: skip
    assert shot.elapsed_min == 180 and shot.dwell_min == 60 and shot.stops_left == 1
    assert shot.speed_kmh == 72.0


def test_the_simulated_history_is_the_same_for_the_same_seed_and_holds_out_the_newest() -> None:
    first, again, other = (history.simulate(40, seed=s) for s in (5, 5, 6))
    assert first == again
    assert first != other
    training, held_out = history.split(first, 0.25)
    assert len(held_out) == 10 and len(training) == 30
    assert max(t.delivered_at for t in training) <= min(t.delivered_at for t in held_out)
    for trip in first:
        assert trip.window_start <= trip.picked_up_at < trip.delivered_at
        assert all(f.at <= trip.delivered_at + timedelta(minutes=15) for f in trip.fixes)
        for shot, left in trip.samples():
            assert left > 0 and shot.remaining_km >= 0
    assert any(t.late for t in history.simulate(60, seed=5))


def test_drivers_rest_in_the_simulation_as_the_rules_say() -> None:
    lane = next(lane for lane in history.lanes(seed=3, count=200) if lane.distance_km > 1500)
    start = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # a Tuesday
    solo = history.CarrierProfile("solo", 80.0, 0.0, 30.0, team=False)
    team = history.CarrierProfile("team", 80.0, 0.0, 30.0, team=True)
    solo_arrival, solo_fixes = history._drive(lane, solo, start, None)
    team_arrival, team_fixes = history._drive(lane, team, start, None)

    def longest_stop(fixes: list[history.Fix]) -> float:
        """Hours of the longest run of standing fixes."""
        longest = run = 0
        for fix in fixes:
            run = run + 1 if fix.speed_kmh == 0 else 0
            longest = max(longest, run)
        return longest * history.FIX_MINUTES / 60

    assert longest_stop(solo_fixes) >= lane.rules.rest_h - 0.25  # the daily rest
    assert longest_stop(team_fixes) < lane.rules.rest_h / 2  # breaks only
    assert solo_arrival - team_arrival > timedelta(hours=lane.rules.rest_h / 2)
