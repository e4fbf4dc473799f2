"""The demo's trucks (demo/fleet.py): where a last leg runs, how long it lasts against the
TMS's steps, what the past days the ETA model learns from look like, and how the live
fleet follows the TMS's loads. No hub: a link without a URL only logs what it would send."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from intermodal.config import EtaConfig
from intermodal.foresight.eta import baseline_minutes
from intermodal.foresight.eta_refresh import baseline_settings
from intermodal.foresight.geo import road_km
from intermodal_sim.demo.fleet import (
    CUSTOMER_CITIES,
    Fleet,
    drive_steps,
    leg_to,
    past_trips,
    start_km,
)
from intermodal_sim.partner import HubLink
from intermodal_sim.tms.app import Load
from intermodal_sim.tms.edi import Place


@pytest.mark.parametrize(
    ("faults", "steps"),
    [(set(), 2), ({"reorder"}, 1), ({"exception"}, 3), ({"reorder", "exception"}, 2),
     ({"stall", "duplicates"}, 2)],
)  # fmt: skip
def test_a_drive_lasts_the_tms_steps_between_pickup_and_delivery(
    faults: set[str], steps: int
) -> None:
    assert drive_steps(faults) == steps


def test_a_truck_at_its_speed_arrives_when_the_baseline_says() -> None:
    """The leg is a straight line; the road is ROAD_FACTOR longer, as the hub's road_km
    says: a truck at v on the road covers v / ROAD_FACTOR of the line, so remaining road
    over its speed is exactly the time it still needs."""
    leg = leg_to("BE", "Antwerp")
    assert leg is not None and leg.place == "BE:antwerp"
    assert road_km(leg.at(0.0), leg.destination) == pytest.approx(0.0, abs=1e-6)
    for speed, seconds in [(70.0, 30.0), (85.0, 4.5)]:
        here = leg.at(start_km(speed, seconds))
        assert road_km(here, leg.destination) / speed * 3600 == pytest.approx(seconds, rel=1e-3)
    assert leg_to("US", "Nowhere City") is None


def test_past_days_are_seeded_and_end_at_the_delivery() -> None:
    until = datetime(2026, 12, 1, tzinfo=UTC)
    trips = past_trips(40, seed=7, step_seconds=4.0, tick_seconds=0.5, until=until)
    again = past_trips(40, seed=7, step_seconds=4.0, tick_seconds=0.5, until=until)
    assert [t.delivered_at for t in trips] == [t.delivered_at for t in again]
    assert [t.delivered_at for t in trips] == sorted(t.delivered_at for t in trips)
    assert all(t.delivered_at < until for t in trips)
    places = {s.destination for t in trips for s, _ in t.samples}
    assert places <= set(CUSTOMER_CITIES) and len(places) > 1
    base = baseline_settings(EtaConfig())
    broke_down = 0
    for trip in trips:
        truths = [m for _, m in trip.samples]
        assert truths == sorted(truths, reverse=True) and truths[-1] > 0
        assert all(s.remaining_km < 2.0 and s.origin == "US" for s, _ in trip.samples)
        if any(s.speed_kmh == 0 and s.remaining_km > 0.01 for s, _ in trip.samples):
            broke_down += 1
            continue
        # no breakdown: the baseline knows where it is and how fast it goes (its speedometer
        # to 5%), to a dock wait of up to half a step
        first, truth = trip.samples[0]
        estimate = baseline_minutes(first, base)
        assert -0.06 * estimate <= truth - estimate <= 0.06 * estimate + 0.5 * 4.0 / 60
    assert 0 < broke_down < len(trips) / 2


def _load(key: str, status: str, steps: list[str]) -> Load:
    load = Load(f"L-{key}", key, "x12", Place("Memphis"), Place("ANTWERP", "", "BE"), status=status)
    load.steps = [{"step": step, "at": "", "duplicate": False} for step in steps]
    return load


def test_the_fleet_follows_the_tms_drives_stands_and_parks() -> None:
    fleet = Fleet(HubLink(None, "telematics"), seed=7, step_seconds=0.2, tick_seconds=0.05,
                  linger_seconds=0.1)  # fmt: skip
    fleet.shared = {"TRK-200"}
    picked = datetime.now(UTC) + timedelta(seconds=1)
    for key, truck in [("K1", "TRK-100"), ("K2", "TRK-200"), ("K3", "TRK-300")]:
        asyncio.run(fleet.leaving(fleet.link, key, truck, Place("ANTWERP", "", "BE"), set(),
                                  picked))  # fmt: skip
    sent = fleet.link.log()
    assert [r["message_id"].rsplit("-", 1)[0] for r in sent] == ["dock-K1", "dock-K2", "dock-K3"]
    assert fleet.trucks["K2"].names_shipment and not fleet.trucks["K1"].names_shipment
    start = {k: t.left_km for k, t in fleet.trucks.items()}
    loads = [_load("K1", "picked_up", ["picked_up"]), _load("K2", "stalled", ["picked_up"]),
             _load("K3", "delivered", ["picked_up", "in_transit", "delivered"])]  # fmt: skip
    ticks = iter(range(4))
    tally = asyncio.run(fleet.drive(until=lambda: next(ticks, None) is None, loads=lambda: loads))
    k1, k2, k3 = (fleet.trucks[k] for k in ("K1", "K2", "K3"))
    assert 0 < k1.left_km < start["K1"]  # on its way
    assert k2.left_km == start["K2"] and not k2.moving  # broken down
    assert k3.left_km == 0 and k3.parked_since is not None  # at the customer
    assert tally.batches >= 4 + 3 and tally.fixes >= 3 * 4
    batch = next(r for r in fleet.link.log() if r["message_id"].startswith("fleet-"))
    assert batch["kind"] == "positions" and batch["error"].startswith("standalone")
    # a truck number the TMS gives two loads: its unit names the shipment on each fix
    now = datetime.now(UTC)
    assert "shipment" not in fleet._fix(k1, now, True)
    assert fleet._fix(k2, now, False)["shipment"] == "K2"
    assert fleet._fix(k2, now, False)["speed_kph"] == 0.0
