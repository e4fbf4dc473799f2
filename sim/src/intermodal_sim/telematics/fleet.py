"""The fleet's day, decided up front: trucks driving their routes and what their devices send.

Pure and seeded: `plan_fleet(trips, noise, seed)` gives every message the fleet will send,
with its time in *virtual* seconds from the start of the run, and nothing else (no clock,
no network), so the same seed plans the same day and a test can read the plan. The
player (`player.py`) turns virtual seconds into wall time and posts.

How a truck drives: along its route (cities of foresight/geo.py's gazetteer, in a straight
line between them, at `cruise_kmh`), stopping at each intermediate stop for a while, slowed
to a crawl in traffic now and then, and, for a trip marked `stall`, standing still for
hours somewhere on the way. Its device samples a fix every `interval_s` seconds.

What its device gets wrong, as real ones do:
- **jitter**: every fix is off by a few metres (`jitter_m`, Gaussian), its speed and
  heading by a little;
- **gaps**: now and then it loses coverage for minutes; what it recorded meanwhile is
  uploaded in one batch when coverage returns (late, so out of order with the fixes
  sent since), or lost (`lost`);
- **duplicates**: some fixes are sent twice (a resend with the same message id, or the
  same fix again in the next batch);
- **out of order**: besides the gap batches, a few single fixes arrive a minute late;
- **glitches**: a rare fix tens to hundreds of kilometres off, with a confident accuracy
  (the hub refuses it as an impossible jump), and a few fixes with a poor accuracy.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from intermodal.foresight.geo import CITIES, Point, haversine_km, interpolate
from intermodal.foresight.geo import bearing as geo_bearing
from intermodal.foresight.geo import offset as geo_offset

Channel = Literal["webhook", "bulk", "events"]
"""How a truck's fixes reach the hub: one signed webhook per fix, signed webhooks with a
batch of fixes (`bulk_every` at a time, and the batches after gaps), or canonical events
on `POST /v1/events` with the partner's token."""
CHANNELS: tuple[Channel, ...] = ("bulk", "webhook", "events")
Announce = Literal["trip", "shipment"]
"""How the hub learns a truck's shipment: a trip message before it leaves (its fixes then
name only the device), or the shipment named on every fix."""


@dataclass(frozen=True)
class Trip:
    """One truck carrying one shipment along a route of cities (`"BE:antwerp"`)."""

    shipment_key: str
    vehicle_id: str
    route: tuple[str, ...]
    depart_s: float = 0.0
    """When it leaves, in virtual seconds from the start of the run."""
    channel: Channel = "bulk"
    announce: Announce = "trip"
    stall: bool = False
    """Stands still for `Noise.stall_hours` somewhere on the way (a breakdown)."""

    def points(self) -> list[Point]:
        return [city_point(stop) for stop in self.route]


def city_point(stop: str) -> Point:
    """`"BE:antwerp"` -> the city's point (foresight/geo.py CITIES)."""
    country, _, city = stop.partition(":")
    found = CITIES.get((country.upper(), city.lower()))
    if found is None:
        raise ValueError(f"{stop}: not a city of foresight/geo.py's CITIES (COUNTRY:city)")
    return Point(*found)


@dataclass(frozen=True)
class Noise:
    """How the trucks drive and how their devices misbehave (module docstring)."""

    interval_s: float = 30.0
    cruise_kmh: float = 82.0
    jitter_m: float = 8.0
    stop_minutes: tuple[float, float] = (10.0, 25.0)
    traffic_per_hour: float = 0.5
    traffic_minutes: tuple[float, float] = (5.0, 20.0)
    traffic_kmh: tuple[float, float] = (8.0, 30.0)
    gaps_per_hour: float = 0.6
    gap_minutes: tuple[float, float] = (3.0, 12.0)
    lost: float = 0.25
    """The share of gaps whose fixes are never uploaded."""
    duplicates: float = 0.03
    late: float = 0.02
    """The share of single fixes that arrive a minute or two late."""
    glitches: float = 0.003
    blurry: float = 0.006
    stall_hours: float = 3.0
    bulk_every: int = 4
    dwell_at_end_minutes: float = 10.0


@dataclass(frozen=True)
class Fix:
    """One fix as the device reports it (and where the truck really was)."""

    vehicle_id: str
    shipment_key: str
    at_s: float
    latitude: float
    longitude: float
    speed_kmh: float
    heading: float
    accuracy_m: float
    kind: Literal["ok", "glitch", "blurry"] = "ok"
    true_point: Point | None = None


@dataclass(frozen=True)
class Delivery:
    """One message: a trip start, or fixes (one, or a batch)."""

    send_s: float
    channel: Channel
    trip: Trip
    fixes: tuple[Fix, ...] = ()
    resend: bool = False
    """The same message again (same id): the hub's inbox keeps one."""
    late: bool = False
    """Sent after fixes recorded later than its own (a gap's batch, a late single)."""

    @property
    def is_trip_start(self) -> bool:
        return not self.fixes


@dataclass
class FleetPlan:
    trips: list[Trip]
    deliveries: list[Delivery]
    horizon_s: float
    """Virtual seconds from the start to the last message."""
    counts: dict[str, int] = field(default_factory=dict)
    """fixes, glitches, blurry, lost, duplicates, late, messages."""


def plan_fleet(
    trips: Sequence[Trip], noise: Noise = Noise(), seed: int = 7, until_s: float | None = None
) -> FleetPlan:
    """Every message the fleet sends, by virtual send time (module docstring); with
    `until_s`, only what is sent by then (the trucks stop driving there)."""
    deliveries: list[Delivery] = []
    counts = dict.fromkeys(
        ("fixes", "glitches", "blurry", "lost", "duplicates", "late", "messages"), 0
    )
    for trip in trips:
        # One generator per trip, from the seed and the trip: the same truck does the
        # same things whatever other trucks the run holds.
        rng = random.Random(f"{seed}:{trip.shipment_key}:{trip.vehicle_id}")
        fixes = list(drive(trip, noise, rng, until_s))
        counts["fixes"] += len(fixes)
        counts["glitches"] += sum(1 for f in fixes if f.kind == "glitch")
        counts["blurry"] += sum(1 for f in fixes if f.kind == "blurry")
        if trip.announce == "trip":
            deliveries.append(Delivery(max(0.0, trip.depart_s - 60.0), trip.channel, trip))
        deliveries.extend(_send(trip, fixes, noise, rng, counts))
    if until_s is not None:
        deliveries = [d for d in deliveries if d.send_s <= until_s]
    deliveries.sort(key=lambda d: (d.send_s, d.trip.vehicle_id))
    counts["messages"] = len(deliveries)
    horizon = max((d.send_s for d in deliveries), default=0.0)
    if until_s is not None:
        horizon = until_s
    return FleetPlan(list(trips), deliveries, horizon, counts)


def drive(
    trip: Trip, noise: Noise, rng: random.Random, until_s: float | None = None
) -> Iterable[Fix]:
    """The truck's fixes from departure to a while after arrival (or `until_s`), as the
    device records them (jitter and glitches included, gaps not yet: those are about
    sending)."""
    points = trip.points()
    legs = [(a, b, haversine_km(a, b)) for a, b in itertools.pairwise(points)]
    dt = noise.interval_s
    at = trip.depart_s
    leg, done_km = 0, 0.0
    dwell_s = 0.0
    traffic_s, traffic_kmh = 0.0, 0.0
    stall_at = rng.uniform(0.3, 0.7) if trip.stall else None
    total_km = sum(km for _, _, km in legs) or 1.0
    travelled = 0.0
    stalled_s = 0.0
    arrived_s: float | None = None
    while until_s is None or at <= until_s:
        if leg >= len(legs):  # arrived: stands at the destination a while, then goes quiet
            arrived_s = at if arrived_s is None else arrived_s
            if at - arrived_s > noise.dwell_at_end_minutes * 60:
                return
            here, heading, kmh = points[-1], 0.0, 0.0
        else:
            a, b, km = legs[leg]
            heading = geo_bearing(a, b)
            if traffic_s <= 0 and rng.random() < noise.traffic_per_hour * dt / 3600:
                traffic_s = rng.uniform(*noise.traffic_minutes) * 60
                traffic_kmh = rng.uniform(*noise.traffic_kmh)
            if dwell_s > 0:
                kmh = 0.0
                dwell_s -= dt
            elif (
                stall_at is not None
                and travelled / total_km >= stall_at
                and stalled_s < (noise.stall_hours * 3600)
            ):
                kmh = 0.0
                stalled_s += dt
            else:
                kmh = traffic_kmh if traffic_s > 0 else noise.cruise_kmh
                kmh *= rng.uniform(0.93, 1.05)
            traffic_s -= dt
            step = kmh * dt / 3600
            done_km += step
            travelled += step
            if done_km >= km:  # reached the next stop
                done_km = 0.0
                leg += 1
                if leg < len(legs):
                    dwell_s = rng.uniform(*noise.stop_minutes) * 60
                here = b
            else:
                here = interpolate(a, b, done_km / km if km else 1.0)
        yield _observed(trip, at, here, kmh, heading, noise, rng)
        at += dt


def _observed(
    trip: Trip, at: float, here: Point, kmh: float, heading: float, noise: Noise, rng: random.Random
) -> Fix:
    """What the device reports for the truck at `here`."""
    roll = rng.random()
    kind: Literal["ok", "glitch", "blurry"] = "ok"
    accuracy = max(2.0, rng.gauss(noise.jitter_m, noise.jitter_m / 3))
    error_m = abs(rng.gauss(0, noise.jitter_m))
    if roll < noise.glitches:
        kind, error_m, accuracy = "glitch", rng.uniform(30_000, 300_000), rng.uniform(3, 10)
    elif roll < noise.glitches + noise.blurry:
        accuracy = rng.uniform(400, 1500)
        kind, error_m = "blurry", abs(rng.gauss(0, accuracy))
    seen = geo_offset(here, error_m, rng.uniform(0, 360))
    return Fix(
        vehicle_id=trip.vehicle_id,
        shipment_key=trip.shipment_key,
        at_s=at,
        latitude=round(seen.latitude, 6),
        longitude=round(seen.longitude, 6),
        speed_kmh=round(max(0.0, kmh + (rng.gauss(0, 1.5) if kmh else 0.0)), 1),
        heading=round((heading + rng.gauss(0, 3)) % 360, 1),
        accuracy_m=round(accuracy, 1),
        kind=kind,
        true_point=here,
    )


def _send(
    trip: Trip, fixes: list[Fix], noise: Noise, rng: random.Random, counts: dict[str, int]
) -> Iterable[Delivery]:
    """The messages carrying a truck's fixes: live ones, gap batches, resends, late ones."""
    dt = noise.interval_s
    pending: list[Fix] = []  # a bulk device's fixes not yet uploaded
    gap_until: float | None = None
    gap: list[Fix] = []
    for fix in fixes:
        if gap_until is None and rng.random() < noise.gaps_per_hour * dt / 3600:
            gap_until = fix.at_s + rng.uniform(*noise.gap_minutes) * 60
        if gap_until is not None:
            if fix.at_s < gap_until:
                gap.append(fix)
                continue
            if rng.random() < noise.lost:
                counts["lost"] += len(gap)
            else:  # uploaded once coverage is back, after the first live fixes
                counts["late"] += 1
                yield Delivery(
                    gap_until + rng.uniform(1, 3) * dt, _batch(trip), trip, tuple(gap), late=True
                )
            gap, gap_until = [], None
        if trip.channel == "bulk":
            pending.append(fix)
            if len(pending) >= noise.bulk_every:
                yield from _bulk(
                    trip, pending, fix.at_s + rng.uniform(0.5, 2.0), noise, rng, counts
                )
                pending = []
            continue
        send = fix.at_s + rng.uniform(0.5, 2.0)
        late = rng.random() < noise.late
        if late:
            counts["late"] += 1
            send += rng.uniform(2, 4) * dt
        yield Delivery(send, trip.channel, trip, (fix,), late=late)
        if rng.random() < noise.duplicates:
            counts["duplicates"] += 1
            yield Delivery(send + rng.uniform(1, 20), trip.channel, trip, (fix,), resend=True)
    if pending:
        yield from _bulk(trip, pending, pending[-1].at_s + 1.0, noise, rng, counts)
    if gap:  # coverage never came back before the trip ended: uploaded at the end
        counts["late"] += 1
        yield Delivery(gap[-1].at_s + dt, _batch(trip), trip, tuple(gap), late=True)


def _bulk(
    trip: Trip,
    fixes: list[Fix],
    send: float,
    noise: Noise,
    rng: random.Random,
    counts: dict[str, int],
) -> Iterable[Delivery]:
    batch = tuple(fixes)
    if rng.random() < noise.duplicates * noise.bulk_every:  # the last fix again, next time
        counts["duplicates"] += 1
        yield Delivery(send, "bulk", trip, batch)
        yield Delivery(send + noise.interval_s, "bulk", trip, (batch[-1],))
        return
    yield Delivery(send, "bulk", trip, batch)


def _batch(trip: Trip) -> Channel:
    """A gap's fixes go in one message: a batch webhook, or one batch of events."""
    return "events" if trip.channel == "events" else "bulk"


# -- routes ------------------------------------------------------------------------------

LANES: tuple[tuple[str, ...], ...] = (
    ("NL:rotterdam", "BE:antwerp"),
    ("BE:antwerp", "BE:ghent", "FR:lille"),
    ("NL:rotterdam", "NL:venlo", "DE:duisburg", "DE:cologne"),
    ("DE:hamburg", "DE:bremen", "NL:amsterdam"),
    ("BE:antwerp", "BE:brussels", "FR:paris"),
    ("DE:frankfurt", "DE:munich", "AT:vienna"),
    ("US:long beach", "US:fresno", "US:fremont"),
    ("US:oakland", "US:sacramento", "US:reno"),
    ("US:newark", "US:boston"),
    ("US:chicago", "US:memphis", "US:atlanta"),
)
"""Freight lanes between cities of the gazetteer: ports to inland hubs, mostly."""

DEMO_LANES: dict[str, tuple[str, ...]] = {
    "AZ-001": ("US:oakland", "US:san jose", "US:fremont"),
    "DA-002": ("NL:rotterdam", "BE:antwerp"),
    "GF-003": ("BE:antwerp", "NL:rotterdam"),
    "RM-005": ("NL:rotterdam", "DE:bremen", "DE:hamburg"),
}
"""The demo's customers (sim/odoo/data/demo.json) and how their orders reach them: from
the port the freight lands at (or the company's Oakland dock) to the customer's city."""


def fleet_trips(
    count: int,
    seed: int = 7,
    prefix: str = "SIM",
    spread_s: float = 1800.0,
    channels: Sequence[Channel] = CHANNELS,
) -> list[Trip]:
    """`count` trucks on the freight lanes, leaving over `spread_s`, one of every nine
    stalling, every third naming its shipment on each fix instead of starting a trip."""
    rng = random.Random(f"{seed}:fleet")
    trips = []
    for i in range(count):
        trips.append(
            Trip(
                shipment_key=f"{prefix}-{i + 1:04d}",
                vehicle_id=f"TRK-{seed % 1000:03d}{i + 1:03d}",
                route=LANES[rng.randrange(len(LANES))],
                depart_s=rng.uniform(0, spread_s),
                channel=channels[i % len(channels)],
                announce="shipment" if i % 3 == 2 else "trip",
                stall=i % 9 == 4,
            )
        )
    return trips


def demo_trips(
    orders: Sequence[tuple[str, str]],
    seed: int = 7,
    spread_s: float = 3600.0,
    stalled: Iterable[str] = (),
    vehicles: Mapping[str, str] | None = None,
) -> list[Trip]:
    """A truck for each of the demo's orders, `(shipment key, customer reference)`, on its
    customer's lane (`DEMO_LANES`; others get a lane of `LANES`), leaving over `spread_s`
    virtual seconds; the `stalled` shipments' trucks stall on the way. `vehicles` names
    an order's truck (the TMS's, whose dispatch assigns it); the others are telematics
    units `UNIT-0001`, ..., which cannot be mistaken for the TMS's `TRK-nnn`."""
    rng = random.Random(f"{seed}:demo")
    stuck = set(stalled)
    named = vehicles or {}
    trips = []
    for i, (key, customer) in enumerate(orders):
        lane = DEMO_LANES.get(customer) or LANES[rng.randrange(len(LANES))]
        trips.append(
            Trip(
                shipment_key=key,
                vehicle_id=named.get(key, f"UNIT-{i + 1:04d}"),
                route=lane,
                depart_s=spread_s * i / max(1, len(orders)),
                channel=CHANNELS[i % len(CHANNELS)],
                announce="shipment" if i % 3 == 2 else "trip",
                stall=key in stuck,
            )
        )
    return trips
