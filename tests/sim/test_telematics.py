"""The telematics simulator: a seeded plan with the noise real devices make, played
against a running hub through the example partner (examples/partners/telematics/)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import load_config
from intermodal.foresight.geo import Point, haversine_km
from intermodal.mapping.spec import load_mapping
from intermodal.security.secrets import Secret, new_webhook_secret, webhook_key
from intermodal_sim.partner import HubLink
from intermodal_sim.telematics import drive_demo_fleet, partner_config
from intermodal_sim.telematics.fleet import (
    Noise,
    Trip,
    demo_trips,
    fleet_trips,
    plan_fleet,
)
from intermodal_sim.telematics.player import FleetTally, play, render
from intermodal_sim.testing import running_hub, wait_until
from tests.sim.conftest import EXAMPLES

ADMIN = "telematics-sim-admin-token-2e8c5a-0123456"
TOKEN = "telematics-sim-partner-token-7b1f4d-01234"
ANCHOR = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HUB_FOLDER: dict[str, Path] = {}
"""Where each running test hub keeps its secret and token files."""


# -- the plan --------------------------------------------------------------------------------


def test_the_same_seed_plans_the_same_day_and_another_seed_another() -> None:
    one = plan_fleet(fleet_trips(6, seed=11), Noise(), 11, until_s=4 * 3600)
    again = plan_fleet(fleet_trips(6, seed=11), Noise(), 11, until_s=4 * 3600)
    other = plan_fleet(fleet_trips(6, seed=12), Noise(), 12, until_s=4 * 3600)
    assert one.deliveries == again.deliveries
    assert [render(d, ANCHOR) for d in one.deliveries] == [
        render(d, ANCHOR) for d in again.deliveries
    ]
    assert one.deliveries != other.deliveries
    # A truck does the same whatever else is on the road.
    alone = plan_fleet(fleet_trips(6, seed=11)[:1], Noise(), 11, until_s=4 * 3600)
    first = one.trips[0].vehicle_id
    assert [d for d in one.deliveries if d.trip.vehicle_id == first] == alone.deliveries


def test_the_plan_carries_the_noise_of_real_devices() -> None:
    noisy = Noise(gaps_per_hour=2.0, duplicates=0.05, late=0.05, glitches=0.01, blurry=0.01)
    trips = fleet_trips(9, seed=5)  # the fifth truck stalls
    plan = plan_fleet(trips, noisy, 5)
    counts = plan.counts
    assert counts["glitches"] and counts["blurry"] and counts["duplicates"] and counts["late"]
    assert counts["lost"]  # some gaps are never uploaded
    fixes = [f for d in plan.deliveries for f in d.fixes]
    assert all(f.at_s <= d.send_s for d in plan.deliveries for f in d.fixes)  # sent after taken
    assert Counter(d.channel for d in plan.deliveries).keys() == {"bulk", "webhook", "events"}
    # out of order: some message carries fixes older than one sent before it, per truck
    for_truck: dict[str, float] = {}
    reordered = 0
    for delivery in plan.deliveries:
        newest = for_truck.get(delivery.trip.vehicle_id, -1.0)
        if delivery.fixes and delivery.fixes[0].at_s < newest:
            reordered += 1
        if delivery.fixes:
            for_truck[delivery.trip.vehicle_id] = max(newest, delivery.fixes[-1].at_s)
    assert reordered
    # the stalled truck stands still for hours away from any stop
    stalled = next(t for t in trips if t.stall)
    still = [f for f in fixes if f.vehicle_id == stalled.vehicle_id and f.speed_kmh == 0.0]
    assert max(f.at_s for f in still) - min(f.at_s for f in still) >= 3 * 3600
    # trucks move at road speeds between fixes (glitches aside)
    for trip in trips:
        own = sorted(
            {
                f.at_s: f for f in fixes if f.vehicle_id == trip.vehicle_id and f.kind == "ok"
            }.values(),
            key=lambda f: f.at_s,
        )
        for a, b in itertools.pairwise(own):
            assert a.true_point is not None and b.true_point is not None
            kmh = haversine_km(a.true_point, b.true_point) / ((b.at_s - a.at_s) / 3600)
            assert kmh < 95, (trip.vehicle_id, kmh)


def test_demo_trips_follow_the_demo_customers_lanes() -> None:
    orders = [("DEMO-0001", "AZ-001"), ("DEMO-0002", "DA-002")]
    trips = demo_trips(orders, stalled=["DEMO-0002"], vehicles={"DEMO-0002": "TRK-417"})
    assert trips[0].route[-1] == "US:fremont" and trips[0].vehicle_id == "UNIT-0001"
    assert trips[1].route == ("NL:rotterdam", "BE:antwerp") and trips[1].stall
    assert trips[1].vehicle_id == "TRK-417"
    with pytest.raises(ValueError, match="CITIES"):
        Trip("X", "T", ("ZZ:nowhere", "BE:antwerp")).points()


def test_the_example_partner_loads_and_reads_its_samples() -> None:
    settings = load_config(EXAMPLES / "telematics" / "hub.yaml", resolve_secrets=False)
    partner = settings.partners["telematics"]
    assert partner.kind == "telematics" and partner.positions.max_speed_kmh == 200
    mapping = load_mapping(EXAMPLES / "telematics" / "mapping.yaml", "telematics")
    batch = mapping.parse((EXAMPLES / "telematics" / "sample_positions.json").read_bytes())
    assert [e.subject for e in batch] == ["vehicle:TRK-417", "vehicle:TRK-417", "DEMO-0007"]
    (trip,) = mapping.parse((EXAMPLES / "telematics" / "sample_trip.json").read_bytes())
    assert trip.type == "intermodal.vehicle.assigned" and trip.subject == "DEMO-0001"
    (one,) = mapping.parse((EXAMPLES / "telematics" / "sample_position.json").read_bytes())
    assert one.data.model_dump()["accuracy_m"] == 6.5


def test_the_tms_puts_its_truck_on_a_dispatched_load() -> None:
    """The TMS examples' dispatched status (X12 214 XB with MS2, or JSON DISPATCHED with
    `truck`) also assigns the truck, so fixes naming only the truck find the load."""
    from intermodal_sim.tms import edi

    at = datetime(2026, 3, 2, 8, tzinfo=UTC)
    x12 = load_mapping(EXAMPLES / "tms" / "mapping_x12.yaml", "tms-edi")
    found = {}
    for code in ("XB", "AF"):
        _, document = edi.status_214(
            edi.Identity(), edi.MemoryControlNumbers(), shipment_key="SO-1", load_id="L1",
            code=code, reason="NS", place=edi.Place("Chicago", "IL", "US"), truck="TRK-417",
            at=at,
        )  # fmt: skip
        found[code] = [(e.type.value, e.subject) for e in x12.parse(document)]
    assert ("intermodal.vehicle.assigned", "SO-1") in found["XB"]
    assert [t for t, _ in found["AF"]] == ["intermodal.shipment.milestone"]
    json_mapping = load_mapping(EXAMPLES / "tms" / "mapping.yaml", "tms")
    status = orjson.loads((EXAMPLES / "tms" / "sample_status.json").read_bytes())
    status["code"] = "DISPATCHED"
    events = json_mapping.parse(orjson.dumps(status))
    (assigned,) = [e for e in events if e.type.value == "intermodal.vehicle.assigned"]
    assert assigned.data.model_dump()["vehicle_id"] == "TRK-417"


# -- against a hub ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    folder = tmp_path_factory.mktemp("telematics")
    secret = new_webhook_secret()
    config = yaml.safe_load((EXAMPLES / "telematics" / "hub.yaml").read_text())
    config["hub"] = {"database": f"sqlite:///{folder / 'hub.db'}", "admin_token": "file:admin"}
    example = config["partners"]["telematics"]
    partner = partner_config(EXAMPLES, "file:secret", "file:token")
    assert {k: v for k, v in example.items() if k != "positions"}.keys() == partner.keys()
    config["partners"]["telematics"] = {**partner, "positions": example["positions"]}
    (folder / "secret").write_text(secret)
    (folder / "token").write_text(TOKEN)
    (folder / "admin").write_text(ADMIN)
    (folder / "hub.yaml").write_text(yaml.safe_dump(config))
    with running_hub(load_config(folder / "hub.yaml"), dispatch=False) as url:
        HUB_FOLDER[url] = folder
        yield url, webhook_key(Secret(secret))


def read(url: str, path: str, **params: Any) -> Any:
    answer = httpx.get(url + path, params=params, headers={"authorization": f"Bearer {ADMIN}"})
    answer.raise_for_status()
    return answer.json()


def settled(url: str, keys: list[str], fixes: int) -> None:
    """Wait until the hub has counted `fixes` fixes over these shipments."""

    def counted() -> bool:
        total = 0
        for key in keys:
            found = httpx.get(
                f"{url}/v1/shipments/{key}/positions",
                headers={"authorization": f"Bearer {ADMIN}"},
            )
            if found.status_code == 200:
                total += found.json()["counts"]["fixes"]
        return total >= fixes

    wait_until(counted, timeout=30)


def test_a_fleet_played_against_the_hub_ends_where_its_trucks_are(
    hub: tuple[str, bytes],
) -> None:
    url, key = hub
    noise = Noise(glitches=0.02, duplicates=0.05, gaps_per_hour=1.5)
    trips = [replace(t, depart_s=t.depart_s / 10) for t in fleet_trips(5, seed=3, prefix="PLAY")]
    plan = plan_fleet(trips, noise, 3, until_s=3600)
    link = HubLink(url, "telematics", key=key, token=TOKEN)
    tally = asyncio.run(play(link, plan, speedup=1800))
    assert tally.failed == 0, tally.errors
    assert tally.duplicates  # resends answered as such
    sent = {(f.vehicle_id, f.at_s): f for d in plan.deliveries for f in d.fixes}
    keys = [t.shipment_key for t in trips]
    unique_fixes = len(sent)
    settled(url, keys, unique_fixes - 5)  # a fix or two can share an instant after rounding
    glitches = {(f.latitude, f.longitude) for f in sent.values() if f.kind == "glitch"}
    refused = 0
    for trip in trips:
        body = read(url, f"/v1/shipments/{trip.shipment_key}/positions")
        latest = body["latest"]
        own = [f for f in sent.values() if f.vehicle_id == trip.vehicle_id and f.kind == "ok"]
        truth = max(own, key=lambda f: f.at_s)
        assert truth.true_point is not None
        where = Point(latest["latitude"], latest["longitude"])
        assert haversine_km(where, truth.true_point) < 2.0, trip.shipment_key
        assert (latest["latitude"], latest["longitude"]) not in glitches
        assert not [p for p in body["track"] if (p["latitude"], p["longitude"]) in glitches]
        refused += sum(body["counts"].get("refused_by_reason", {}).values())
    assert refused >= len(glitches) > 0
    on_map = {p["key"] for p in read(url, "/v1/positions")["positions"]}
    assert set(keys) <= on_map


def test_the_command_line_drives_a_fleet_into_the_hub(
    hub: tuple[str, bytes], tmp_path: Path
) -> None:
    url, _ = hub
    folder = Path(url and HUB_FOLDER[url])
    result = CliRunner().invoke(
        app,
        [
            "sim", "telematics", "--hub-url", url, "--secret", f"file:{folder / 'secret'}",
            "--token", f"file:{folder / 'token'}", "--trucks", "3", "--hours", "0.25",
            "--speedup", "900", "--prefix", "CLI", "--seed", "4",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    for key in ("CLI-0001", "CLI-0002", "CLI-0003"):
        wait_until(lambda key=key: _has_latest(url, key), timeout=30)
    bad = CliRunner().invoke(app, ["sim", "telematics", "--channel", "carrier-pigeon"])
    assert bad.exit_code == 2 and "--channel" in bad.output


def _has_latest(url: str, key: str) -> bool:
    answer = httpx.get(
        f"{url}/v1/shipments/{key}/positions", headers={"authorization": f"Bearer {ADMIN}"}
    )
    return answer.status_code == 200 and answer.json()["latest"] is not None


def test_the_demo_fleet_reaches_the_hub(hub: tuple[str, bytes]) -> None:
    url, key = hub
    link = HubLink(url, "telematics", key=key, token=TOKEN)
    orders = [("DEMOT-0001", "AZ-001"), ("DEMOT-0002", "DA-002"), ("DEMOT-0003", "RM-005")]
    tally: FleetTally = asyncio.run(
        drive_demo_fleet(link, orders, seconds=2.0, virtual_hours=0.75, stalled=["DEMOT-0002"])
    )
    assert tally.failed == 0 and tally.fixes > 50
    settled(url, [k for k, _ in orders], tally.fixes // 2)
    for key_, _ in orders:
        assert read(url, f"/v1/shipments/{key_}/positions")["latest"] is not None
