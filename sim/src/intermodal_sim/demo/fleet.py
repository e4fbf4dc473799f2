"""The demo's trucks: each load's last leg, driven on the hub's own clock.

Why not `intermodal_sim.telematics.drive_demo_fleet`: its trucks drive hours of road in the
demo's minutes, and their fixes carry that compressed time, hours behind the hub's clock for
most of the day. The hub's arrival times read a fix only when it is newer than the pickup,
and count minutes from it on the hub's clock, against SLA deadlines set on the hub's clock
(a minute or two after the booking, in the demo). Trucks on that compressed time would never
move an ETA; a truck on real lanes in real time would be predicted hours late against a
deadline of minutes. So here every truck drives in real time, at a truck's speed, for as
long as the TMS's script says the drive lasts: the last few hundred metres to a couple of
kilometres into its customer's city, coming from the city before it on the customer's lane
(`DEMO_LANES`). An ETA, a predicted delay and its error then mean what they mean on a real
day, on a smaller map.

- `Leg` and `drive_steps` are pure: where a truck drives and for how many of the TMS's
  status steps.
- `past_trips` simulates past days of the same fleet (the same legs, speeds and
  breakdowns, drawn from a seed): the history the day's arrival-time model learns from.
- `Fleet` drives the day's trucks: a truck leaves when the TMS reports its load picked up
  (`leaving`, called by the TMS before it reports; or the warehouse, when the truck takes
  goods), stands while the TMS holds the load stalled, and parks at the customer, where
  its unit reports now and then. Every tick the fleet sends its fixes in one signed
  batch through the telematics partner (examples/partners/telematics/), naming the TMS's
  truck, which the TMS's dispatch assigned to the load, or the shipment when two loads of
  the day share a truck number. Its devices make the usual noise: jitter, a fix resent,
  a fix sent late, now and then a GPS jump or a fix with a poor accuracy (the hub refuses
  those two).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from intermodal.foresight.eta import Snapshot, place_key
from intermodal.foresight.geo import ROAD_FACTOR, Point, haversine_km, interpolate, locate, road_km
from intermodal.foresight.geo import bearing as geo_bearing
from intermodal.foresight.geo import offset as geo_offset
from intermodal_sim.partner import HubLink, iso_z
from intermodal_sim.telematics.fleet import DEMO_LANES, city_point

ORIGIN = "US"
"""Where the hub places every demo shipment's pickup: the company's country (Odoo's demo
company has no city), as `eta.plan_route` names it."""
APPROACH: dict[str, str] = {lane[-1]: lane[-2] for lane in DEMO_LANES.values()}
"""A customer's city -> the city its trucks come from (the lane's stop before it)."""
CUSTOMER_CITIES = tuple(sorted(APPROACH))
SPEED_KMH = (68.0, 88.0)
"""A truck's cruising speed on the last leg (its speedometer's: the road, not the line)."""


@dataclass(frozen=True)
class Leg:
    """A truck's last leg: straight toward `destination`, coming from `approach`."""

    destination: Point
    approach: Point
    place: str
    """The destination as the hub names places (`BE:antwerp`)."""

    def at(self, left_km: float) -> Point:
        """The point `left_km` (straight line) before the destination."""
        span = haversine_km(self.destination, self.approach) or 1.0
        return interpolate(self.destination, self.approach, left_km / span)


def leg_to(country: str, city: str) -> Leg | None:
    """The leg into a city the gazetteer knows; None when it does not."""
    found = locate(country, city)
    if found is None or found[1] != "city":
        return None
    destination = found[0]
    key = f"{country.upper()}:{' '.join(city.lower().split())}"
    approach = city_point(APPROACH[key]) if key in APPROACH else None
    if approach is None:  # from the north, ten kilometres out
        approach = Point(destination.latitude + 0.09, destination.longitude)
    return Leg(destination, approach, place_key(country, city))


def drive_steps(faults: set[str]) -> int:
    """How many of the TMS's status steps lie between `picked_up` and `delivered` for a
    load with these faults (tms/app.py `TmsSimulator.run`: a reorder swaps in_transit and
    delivered, an exception comes before delivered)."""
    plan = ["picked_up", "in_transit", "delivered"]
    if "reorder" in faults:
        plan[1], plan[2] = plan[2], plan[1]
    if "exception" in faults:
        plan.insert(plan.index("delivered"), "exception")
    return plan.index("delivered")


def start_km(speed_kmh: float, seconds: float) -> float:
    """The straight-line distance a truck at `speed_kmh` on the road covers in `seconds`."""
    return speed_kmh * seconds / 3600 / ROAD_FACTOR


# -- simulated past days: what the day's arrival-time model learns from -----------------------
@dataclass(frozen=True)
class PastTrip:
    delivered_at: datetime
    samples: list[tuple[Snapshot, float]]
    """(what the hub knew at a fix, minutes that truly remained)."""


def past_trips(
    count: int,
    seed: int,
    step_seconds: float,
    tick_seconds: float,
    until: datetime,
    days: float = 30.0,
) -> list[PastTrip]:
    """`count` last legs of past demo days before `until`: the same legs, speeds and
    status steps as the day's, a quarter of them with a breakdown of 3 to 9 steps
    somewhere on the way, a wait at the customer's dock of up to half a step before the
    delivery is reported, a fix every `tick_seconds`."""
    rng = random.Random(f"{seed}:past")
    trips = []
    for n in range(count):
        country, _, city = rng.choice(CUSTOMER_CITIES).partition(":")
        leg = leg_to(country, city)
        assert leg is not None
        speed = rng.uniform(*SPEED_KMH)
        steps = rng.choice((1, 2, 2, 2, 2, 3))
        drive = steps * step_seconds
        stall = rng.uniform(3, 9) * step_seconds if rng.random() < 0.25 else 0.0
        stall_from = rng.uniform(0.2, 0.8) * drive
        dock = rng.uniform(0, 0.5) * step_seconds
        picked_up = until - timedelta(days=days * (count - n) / count, seconds=rng.uniform(0, 3600))
        arrival = picked_up + timedelta(seconds=drive + stall + dock)
        total = start_km(speed, drive)
        samples = []
        t = rng.uniform(0, tick_seconds)
        while t < drive + stall + dock:
            moving = t < drive + stall and not (stall and stall_from <= t < stall_from + stall)
            driven = min(t, stall_from) + max(0.0, t - stall_from - stall) if stall else t
            driven = min(driven, drive)
            point = leg.at(max(0.0, total - start_km(speed, driven)))
            at = picked_up + timedelta(seconds=t)
            measured = speed * rng.uniform(0.95, 1.05) if moving else 0.0
            snapshot = Snapshot(
                origin=ORIGIN,
                destination=leg.place,
                carrier=None,
                at=at,
                longitude=point.longitude,
                remaining_km=road_km(point, leg.destination),
                speed_kmh=measured,
                elapsed_min=t / 60,
                dwell_min=None,
                stops_left=1,
            )
            samples.append((snapshot, (arrival - at).total_seconds() / 60))
            t += tick_seconds
        trips.append(PastTrip(arrival, samples))
    trips.sort(key=lambda trip: trip.delivered_at)
    return trips


# -- the day's trucks -------------------------------------------------------------------------
@dataclass
class Truck:
    key: str
    vehicle: str
    names_shipment: bool
    leg: Leg
    speed_kmh: float
    left_km: float
    rng: random.Random
    glitch_at: int | None
    """The tick of its one GPS jump, if it has one; `blurry_at` likewise for a poor fix."""
    blurry_at: int | None
    moved_at: float = field(default_factory=time.monotonic)
    moving: bool = True
    ticks: int = 0
    parked_since: float | None = None


@dataclass
class FleetTally:
    trucks: int = 0
    batches: int = 0
    fixes: int = 0
    resent: int = 0
    glitches: int = 0
    blurry: int = 0
    errors: list[str] = field(default_factory=list)


class Fleet:
    """The day's trucks (module docstring). `leaving` is called from the TMS's and the
    warehouse's threads, `drive` runs in the day's; a lock keeps the trucks between them."""

    def __init__(
        self,
        link: HubLink,
        seed: int,
        step_seconds: float,
        tick_seconds: float,
        linger_seconds: float,
    ) -> None:
        self.link = link
        self.seed = seed
        self.step_seconds = step_seconds
        self.tick_seconds = tick_seconds
        self.linger_seconds = linger_seconds
        self.trucks: dict[str, Truck] = {}
        self.places: dict[str, str] = {}
        """Load -> its customer's city (`BE:antwerp`), when the day's plan knows it."""
        self.shared: set[str] = set()
        """Truck numbers the TMS dispatches on more than one load of the day: their units
        name the shipment on each fix (an assignment by truck would file one load's fixes
        under the other)."""
        self.tally = FleetTally()
        self.anchor = datetime.now(UTC)
        self._late: list[tuple[Truck, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def leave(
        self, key: str, truck_number: str | None, place: Any, faults: set[str],
        head_start: float = 0.0, names_shipment: bool = False,
    ) -> Truck | None:  # fmt: skip
        """A load picked up: its truck leaves toward the customer's city (`places`, else
        `place`, the TMS's destination), for `drive_steps(faults)` steps at its speed, and
        `head_start` seconds more when it leaves before the TMS's pickup."""
        country, _, city = self.places.get(key, "").partition(":")
        if not city:
            country, city = getattr(place, "country", "") or "", getattr(place, "city", "") or ""
        leg = leg_to(country, city)
        if leg is None:
            return None
        rng = random.Random(f"{self.seed}:{key}:truck")
        speed = rng.uniform(*SPEED_KMH)
        with self.lock:
            if key in self.trucks:
                return self.trucks[key]
            number = truck_number or f"UNIT-{len(self.trucks) + 1:04d}"
            truck = Truck(
                key=key,
                vehicle=number,
                names_shipment=names_shipment or number in self.shared or truck_number is None,
                leg=leg,
                speed_kmh=speed,
                left_km=start_km(speed, drive_steps(faults) * self.step_seconds + head_start),
                rng=rng,
                glitch_at=rng.randrange(2, 8) if rng.random() < 0.08 else None,
                blurry_at=rng.randrange(2, 8) if rng.random() < 0.08 else None,
            )
            self.trucks[key] = truck
            self.tally.trucks += 1
        return truck

    async def leaving(
        self, link: HubLink, key: str, truck_number: str | None, place: Any, faults: set[str],
        picked_up_at: datetime, head_start: float = 0.0, names_shipment: bool = False,
    ) -> None:  # fmt: skip
        """`leave`, then the truck's first fix at the dock, sent before the TMS (or the
        warehouse) reports the pickup, through `link`, a link of the reporter's own event
        loop: the hub then has a position newer than the pickup when it first estimates
        the load on the road."""
        truck = self.leave(key, truck_number, place, faults, head_start, names_shipment)
        if truck is None:
            return
        with self.lock:
            at = max(datetime.now(UTC), picked_up_at)
            fix = self._fix(truck, at, moving=True)  # rolling out of the yard
        await self._send(link, f"dock-{key}-{int(at.timestamp() * 1000)}", [fix])

    def follow(self, loads: list[Any]) -> None:
        """What the TMS says of each load now: stalled trucks stand, moving ones go on,
        a delivered load's truck is at its customer."""
        now = time.monotonic()
        with self.lock:
            for load in loads:
                truck = self.trucks.get(load.shipment_key)
                if truck is None:
                    continue
                truck.moving = load.status != "stalled"
                delivered = any(step["step"] == "delivered" for step in load.steps)
                if delivered and truck.parked_since is None:
                    truck.left_km = 0.0
                    truck.parked_since = now

    async def drive(self, until: Callable[[], bool], loads: Callable[[], list[Any]]) -> FleetTally:
        """Tick until `until()` says the day is over, following the TMS's `loads()`."""
        batch = 0
        last: tuple[str, list[dict[str, Any]]] | None = None
        while not until():
            await asyncio.sleep(self.tick_seconds)
            self.follow(loads())
            fixes = self._tick(datetime.now(UTC))
            if not fixes:
                continue
            batch += 1
            batch_id = f"fleet-{self.anchor:%H%M%S}-{batch:05d}"
            await self._send(self.link, batch_id, fixes)
            rng = random.Random(f"{self.seed}:batch:{batch}")
            if last is not None and rng.random() < 0.05:  # a device gateway resends
                await self._send(self.link, *last)
                self.tally.resent += 1
            last = (batch_id, fixes)
        return self.tally

    def _tick(self, at: datetime) -> list[dict[str, Any]]:
        now = time.monotonic()
        fixes: list[dict[str, Any]] = []
        with self.lock:
            held, self._late = self._late, []
            for truck in list(self.trucks.values()):
                parked = truck.parked_since
                if parked is not None and now - parked > self.linger_seconds:
                    truck.ticks += 1
                    if truck.ticks % 10:
                        continue  # parked: its unit reports now and then
                    fixes.append(self._fix(truck, at, False))
                    continue
                moving = truck.moving and truck.left_km > 0
                if moving:
                    step = start_km(truck.speed_kmh, now - truck.moved_at)
                    truck.left_km = max(0.0, truck.left_km - step)
                truck.moved_at = now
                truck.ticks += 1
                fix = self._fix(truck, at, moving)
                roll = truck.rng.random()
                if roll < 0.02:
                    self._late.append((truck, fix))  # sent with the next tick's
                    continue
                fixes.append(fix)
                if roll < 0.04:
                    fixes.append(dict(fix))  # the same fix twice in one batch
            fixes.extend(fix for _, fix in held)
        return fixes

    def _fix(self, truck: Truck, at: datetime, moving: bool) -> dict[str, Any]:
        """One fix in the provider's JSON (examples/partners/telematics/mapping.yaml)."""
        rng = truck.rng
        here = truck.leg.at(truck.left_km)
        accuracy = max(2.0, rng.gauss(6.0, 2.0))
        error_m, bearing = abs(rng.gauss(0, 5.0)), rng.uniform(0, 360)
        if truck.ticks == truck.glitch_at:  # a jump of tens of kilometres, sure of itself
            error_m, accuracy = rng.uniform(30_000, 120_000), rng.uniform(3, 9)
            self.tally.glitches += 1
        elif truck.ticks == truck.blurry_at:  # a cell-tower fix
            accuracy = rng.uniform(400, 1500)
            error_m = abs(rng.gauss(0, accuracy / 2))
            self.tally.blurry += 1
        seen = geo_offset(here, error_m, bearing)
        speed = truck.speed_kmh * rng.uniform(0.95, 1.05) if moving else 0.0
        heading = geo_bearing(truck.leg.approach, truck.leg.destination)
        stamp = iso_z(at)
        fix: dict[str, Any] = {
            "id": f"{truck.vehicle}-{truck.key}-{int(at.timestamp() * 1000)}",
            "device": truck.vehicle,
            "ts": stamp,
            "lat": round(seen.latitude, 6),
            "lng": round(seen.longitude, 6),
            "speed_kph": round(speed, 1),
            "bearing": round(heading, 1),
            "accuracy_m": round(accuracy, 1),
        }
        if truck.names_shipment:
            fix["shipment"] = truck.key
        self.tally.fixes += 1
        return fix

    async def _send(self, link: HubLink, batch_id: str, fixes: list[dict[str, Any]]) -> None:
        payload = {"type": "positions", "batch": batch_id, "positions": fixes}
        report = await link.webhook(batch_id, payload, "positions")
        self.tally.batches += 1
        if not report.delivered and len(self.tally.errors) < 10:
            self.tally.errors.append(f"fixes {batch_id}: {report.error}")
