"""Simulated trip history: trucks driving lanes between the gazetteer's cities, seeded.

Arrival-time models are trained and judged on history, and a new hub has none; the bench
and the tests need history whose truth is known. This generator drives trips minute by
minute (5-minute steps) with what makes a truck's arrival hard to guess from distance and
speed alone:

- carriers differ: cruise speed, how much one trip differs from the next, how long they
  wait at the pickup dock, and whether they run two drivers (no daily rest);
- drivers' hours: in North America the FMCSA hours of service (a 30-minute break after 8
  hours driving, 10 hours off after 11), in Europe Regulation (EC) 561/2006 (45 minutes
  after 4.5 hours, 11 hours of daily rest after 9), and Europe's Sunday truck bans
  (most of the continent keeps lorries off the road until 22:00 on Sundays);
- traffic by local time of day and day of week, worst near the cities at rush hour;
- incidents (a breakdown, a closed road) that stop a truck for one to six hours.

Each trip has an SLA deadline set the way the `sla` flow sets one: a fixed offset for the
lane, here the nominal trip (a typical carrier on an empty road, no incidents) plus a
margin, so that slow carriers, bad traffic and incidents make some trips late.

A trip yields `Snapshot`s, what the hub would know mid-trip (at the pickup, then at each
telematics fix), and the minutes that truly remained: the rows the model trains on and
the baseline is scored on. `split` keeps the newest trips apart (held out): a model is
judged on the future, not on trips interleaved with its training.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from intermodal.foresight.eta import Snapshot, local_time, place_key
from intermodal.foresight.geo import CITIES, Point, interpolate, road_km

STEP_MINUTES = 5.0
FIX_MINUTES = 15.0
"""How often a truck's telematics unit reports (a common default of fleet trackers)."""
NEAR_CITY_KM = 40.0


@dataclass(frozen=True, slots=True)
class CarrierProfile:
    name: str
    cruise_kmh: float
    spread: float
    """Standard deviation of a trip's speed factor (driver, truck, load)."""
    dwell_min: float
    """Median minutes at the pickup dock."""
    team: bool
    """Two drivers take turns: breaks, but no daily rest."""


CARRIERS: tuple[CarrierProfile, ...] = (
    CarrierProfile("swift-line", 84.0, 0.04, 30.0, True),
    CarrierProfile("steady-freight", 76.0, 0.05, 45.0, False),
    CarrierProfile("budget-haul", 68.0, 0.09, 75.0, False),
)
NOMINAL = CarrierProfile("nominal", 76.0, 0.0, 45.0, False)
"""The carrier a service level is planned for: deadlines are set from its trips."""


@dataclass(frozen=True, slots=True)
class DrivingRules:
    break_after_h: float
    break_min: float
    rest_after_h: float
    rest_h: float
    sunday_ban: bool


NORTH_AMERICA = DrivingRules(8.0, 30.0, 11.0, 10.0, sunday_ban=False)
EUROPE = DrivingRules(4.5, 45.0, 9.0, 11.0, sunday_ban=True)
REGIONS: dict[str, tuple[frozenset[str], DrivingRules]] = {
    "na": (frozenset({"US", "CA", "MX"}), NORTH_AMERICA),
    "eu": (frozenset({"BE", "NL", "DE", "FR", "ES", "IT", "PL", "CZ", "AT", "CH"}), EUROPE),
}


@dataclass(frozen=True, slots=True)
class Lane:
    origin: tuple[str, str]
    destination: tuple[str, str]
    distance_km: float
    rules: DrivingRules

    @property
    def origin_point(self) -> Point:
        return Point(*CITIES[self.origin])

    @property
    def destination_point(self) -> Point:
        return Point(*CITIES[self.destination])


@dataclass(frozen=True, slots=True)
class Fix:
    """A telematics report: when, where, how fast (km/h as the unit measured it)."""

    at: datetime
    point: Point
    speed_kmh: float
    travelled_km: float


@dataclass(frozen=True, slots=True)
class Trip:
    trip_id: str
    lane: Lane
    carrier: str
    booked_at: datetime
    window_start: datetime
    """The pickup window's start: the truck is at the dock then."""
    picked_up_at: datetime
    delivered_at: datetime
    deadline: datetime
    """Delivered expected by (the SLA)."""
    incident_min: float
    fixes: tuple[Fix, ...]

    @property
    def late(self) -> bool:
        return self.delivered_at > self.deadline

    @property
    def dwell_min(self) -> float:
        return (self.picked_up_at - self.window_start).total_seconds() / 60

    def snapshot(self, at: datetime, point: Point, speed: float | None) -> Snapshot:
        """What the hub knows of this trip from a position at `at`."""
        return Snapshot(
            origin=place_key(*self.lane.origin),
            destination=place_key(*self.lane.destination),
            carrier=self.carrier,
            at=at,
            longitude=point.longitude,
            remaining_km=road_km(point, self.lane.destination_point),
            speed_kmh=speed,
            elapsed_min=max(0.0, (at - self.picked_up_at).total_seconds() / 60),
            dwell_min=self.dwell_min,
            stops_left=1,
        )

    def samples(self, every: int = 4) -> Iterator[tuple[Snapshot, float]]:
        """(snapshot, minutes that truly remained) at the pickup and at every `every`-th fix."""
        start = self.lane.origin_point
        yield self.snapshot(self.picked_up_at, start, None), self.minutes_left(self.picked_up_at)
        for i, fix in enumerate(self.fixes):
            if i % every == every - 1 and fix.at < self.delivered_at:
                yield self.snapshot(fix.at, fix.point, fix.speed_kmh), self.minutes_left(fix.at)

    def minutes_left(self, at: datetime) -> float:
        return (self.delivered_at - at).total_seconds() / 60


def lanes(
    seed: int = 7, count: int = 40, min_km: float = 150.0, max_km: float = 2400.0
) -> list[Lane]:
    """`count` lanes (city pairs of one region, by road between min and max km), chosen
    by `seed` from every pair the gazetteer allows."""
    pairs: list[Lane] = []
    for countries, rules in REGIONS.values():
        cities = sorted(c for c in CITIES if c[0] in countries)
        for a in cities:
            for b in cities:
                if a == b:
                    continue
                km = road_km(Point(*CITIES[a]), Point(*CITIES[b]))
                if min_km <= km <= max_km:
                    pairs.append(Lane(a, b, km, rules))
    rng = random.Random(seed)
    return sorted(rng.sample(pairs, min(count, len(pairs))), key=lambda lane: lane.distance_km)


def _traffic(local: datetime, near_city: bool, weekend_factor: float = 1.03) -> float:
    """Speed multiplier for the local hour and day near or away from a city."""
    hour, weekday = local.hour, local.weekday()
    if weekday < 5 and (7 <= hour < 9 or 16 <= hour < 19):
        return 0.55 if near_city else 0.85
    factor = weekend_factor if weekday >= 5 else 1.0
    if hour >= 22 or hour < 5:
        factor *= 1.05
    return factor


def _sunday_ban_ends(local: datetime) -> datetime | None:
    """When a European Sunday ban that holds at `local` ends (22:00), or None."""
    if local.weekday() == 6 and local.hour < 22:
        return local.replace(hour=22, minute=0, second=0, microsecond=0)
    return None


@dataclass
class _Drive:
    """The state of one simulated drive (mutable while it runs)."""

    lane: Lane
    at: datetime
    rng: random.Random | None
    fixes: list[Fix]
    travelled: float = 0.0
    since_break_h: float = 0.0
    today_h: float = 0.0
    noise: float = 0.0
    next_fix: datetime | None = None

    def point(self) -> Point:
        fraction = self.travelled / self.lane.distance_km if self.lane.distance_km else 1.0
        return interpolate(self.lane.origin_point, self.lane.destination_point, fraction)

    def report(self, until: datetime, speed: float) -> None:
        """Telematics fixes due up to `until` (the truck at its current place)."""
        while self.next_fix is not None and self.next_fix <= until:
            measured = speed
            if self.rng is not None and speed > 0:
                measured = max(0.0, speed * (1 + self.rng.gauss(0, 0.05)))
            self.fixes.append(Fix(self.next_fix, self.point(), measured, self.travelled))
            self.next_fix += timedelta(minutes=FIX_MINUTES)

    def stay(self, minutes: float) -> None:
        until = self.at + timedelta(minutes=minutes)
        self.report(until, 0.0)
        self.at = until


def _drive(
    lane: Lane,
    carrier: CarrierProfile,
    start: datetime,
    rng: random.Random | None,
    trip_factor: float = 1.0,
    incident: tuple[float, float] | None = None,
) -> tuple[datetime, list[Fix]]:
    """Drive the lane from `start`; (arrival, telematics fixes). `incident`: (km, minutes)."""
    drive = _Drive(lane, start, rng, [], next_fix=start + timedelta(minutes=FIX_MINUTES))
    rules, distance = lane.rules, lane.distance_km
    while drive.travelled < distance - 1e-9:
        if incident is not None and drive.travelled >= incident[0]:
            drive.stay(incident[1])
            incident = None
            continue
        if drive.since_break_h >= rules.break_after_h:
            drive.stay(rules.break_min)
            drive.since_break_h = 0.0
            continue
        if not carrier.team and drive.today_h >= rules.rest_after_h:
            drive.stay(rules.rest_h * 60)
            drive.since_break_h = drive.today_h = 0.0
            continue
        local = local_time(drive.at, drive.point().longitude)
        if rules.sunday_ban:
            ends = _sunday_ban_ends(local)
            if ends is not None:
                drive.stay((ends - local).total_seconds() / 60 + 1)
                continue
        near = drive.travelled < NEAR_CITY_KM or distance - drive.travelled < NEAR_CITY_KM
        if rng is not None:
            drive.noise = 0.8 * drive.noise + 0.2 * rng.gauss(0, 0.15)
        speed = max(
            5.0, carrier.cruise_kmh * trip_factor * _traffic(local, near) * (1 + drive.noise)
        )
        hours = min(STEP_MINUTES / 60, (distance - drive.travelled) / speed)
        drive.travelled = min(distance, drive.travelled + speed * hours)
        drive.since_break_h += hours
        drive.today_h += hours
        end = drive.at + timedelta(hours=hours)
        drive.report(end, speed)
        drive.at = end
    return drive.at, drive.fixes


def nominal_arrival(lane: Lane, window_start: datetime) -> datetime:
    """When the planning carrier, on an empty road, would deliver (no noise, no incident)."""
    picked_up = window_start + timedelta(minutes=NOMINAL.dwell_min)
    arrival, _ = _drive(lane, NOMINAL, picked_up, None)
    return arrival


def deadline_for(lane: Lane, window_start: datetime, margin: float = 0.1) -> datetime:
    """The SLA's delivered-by: the nominal trip, plus `margin` of it, plus an hour."""
    nominal = nominal_arrival(lane, window_start)
    return nominal + (nominal - window_start) * margin + timedelta(hours=1)


def simulate(
    trips: int,
    seed: int = 1,
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC),
    days: float = 120.0,
    lane_count: int = 40,
    incident_rate: float = 0.12,
) -> list[Trip]:
    """`trips` trips booked uniformly over `days` from `start`, the same for the same seed."""
    rng = random.Random(seed)
    chosen = lanes(seed=seed, count=lane_count)
    weights = [1.0 / (1 + i % 7) for i in range(len(chosen))]  # some lanes are busier
    out: list[Trip] = []
    for n in range(trips):
        lane = rng.choices(chosen, weights)[0]
        carrier = rng.choice(CARRIERS)
        booked = start + timedelta(minutes=rng.uniform(0, days * 24 * 60))
        booked = booked.replace(second=0, microsecond=0)
        window = (booked + timedelta(hours=rng.uniform(2, 20))).replace(
            minute=0, second=0, microsecond=0
        )
        dwell = carrier.dwell_min * math.exp(rng.gauss(0, 0.45))
        picked = window + timedelta(minutes=dwell)
        factor = max(0.7, rng.gauss(1.0, carrier.spread))
        incident = None
        if rng.random() < incident_rate:
            incident = (rng.uniform(0.1, 0.9) * lane.distance_km, rng.uniform(60, 360))
        arrival, fixes = _drive(lane, carrier, picked, rng, factor, incident)
        out.append(
            Trip(
                trip_id=f"SIM-{seed}-{n:06d}",
                lane=lane,
                carrier=carrier.name,
                booked_at=booked,
                window_start=window,
                picked_up_at=picked,
                delivered_at=arrival,
                deadline=deadline_for(lane, window),
                incident_min=incident[1] if incident else 0.0,
                fixes=tuple(fixes),
            )
        )
    return out


def split(trips: Sequence[Trip], held_out: float = 0.2) -> tuple[list[Trip], list[Trip]]:
    """(training, held out): the newest `held_out` share of trips by delivery, held out."""
    ordered = sorted(trips, key=lambda t: (t.delivered_at, t.trip_id))
    cut = len(ordered) - max(1, round(len(ordered) * held_out))
    return ordered[:cut], ordered[cut:]


def samples(trips: Sequence[Trip], every: int = 4) -> list[tuple[Snapshot, float]]:
    return [sample for trip in trips for sample in trip.samples(every)]
