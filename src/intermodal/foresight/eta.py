"""Arrival times: when each active shipment reaches its next stop and its delivery.

The pure core, no I/O (the refresh job in eta_refresh.py reads and writes the store):

1. `plan_route` places a shipment's stops (geo.locate) and reads from its milestones how
   far it got: before `picked_up` the next stop is the pickup; after it, the next stop is
   the first one the truck has not passed (a stop counts as passed once the truck is
   nearer the stop after it than the stop itself is: trucks drive stops in sequence).
2. `snapshot_of` turns the route and the newest position (telematics, or the place of the
   last milestone, or the pickup at the pickup time) into a `Snapshot`: what is known at
   the moment of that position, the same record the simulated history and the hub's own
   history are made of, so a model is fed the same features it was trained on.
3. `baseline_minutes` is the rule of thumb every estimate is measured against: the road
   distance still to drive divided by the recent speed (or the lane's default speed when
   the truck stands or reports none), plus a dwell per intermediate stop. Its interval
   is a fixed band around it, calibrated on held-out history when a model was trained.
4. `estimate` anchors minutes at the position's time: the ETA is when the truck will
   arrive counted from where it was seen, never earlier than now.

A learned model (eta_model.py) replaces the baseline's minutes only when it beat the
baseline on held-out history and the shipment is on the road; otherwise the estimate says
why it is the baseline's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, select

from intermodal.canonical.model import MAIN_CHAIN, MilestoneType
from intermodal.engine.ids import iso
from intermodal.foresight.geo import Point, Position, locate, road_km

_RANK = {m.value: i for i, m in enumerate(MAIN_CHAIN)}
PICKED_UP = _RANK[MilestoneType.PICKED_UP.value]

Method = Literal["model", "baseline"]
PositionSource = Literal["telematics", "milestone", "pickup", "plan"]


def place_key(country: str, city: str | None = None) -> str:
    """A stable name for a place in features and lanes: `US:chicago`, or `US` alone."""
    return f"{country.upper()}:{' '.join(city.lower().split())}" if city else country.upper()


def local_time(at: datetime, longitude: float) -> datetime:
    """Solar local time, to the hour, from the longitude: traffic keeps local hours, and
    one hour per 15 degrees is close enough for rush hour without a time-zone database."""
    return at + timedelta(hours=round(longitude / 15))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What is known about a shipment on the road at one moment (`at`)."""

    origin: str
    destination: str
    carrier: str | None
    at: datetime
    longitude: float
    remaining_km: float
    speed_kmh: float | None
    elapsed_min: float
    """Minutes since the pickup."""
    dwell_min: float | None
    """Minutes the truck stood at the pickup, from the window's start to `picked_up`."""
    stops_left: int
    """Stops still to reach, the delivery included."""

    @property
    def local(self) -> datetime:
        return local_time(self.at, self.longitude)


@dataclass(frozen=True, slots=True)
class BaselineSettings:
    default_speed_kmh: float = 65.0
    min_speed_kmh: float = 15.0
    """Below this the recent speed says the truck stands (a light, a queue), not how
    fast it travels: the lane's default speed is used instead."""
    max_speed_kmh: float = 110.0
    dwell_per_stop_min: float = 30.0
    low: float = 0.85
    high: float = 1.5
    """The interval as factors of the baseline's minutes: low <= 1 <= high."""
    lane_speeds_kmh: Mapping[str, float] = field(default_factory=dict)
    """`origin>destination` (place keys) -> default speed on that lane."""

    def speed_for(self, snapshot: Snapshot) -> tuple[float, str]:
        """The speed the baseline divides by, and where it came from."""
        recent = snapshot.speed_kmh
        if recent is not None and math.isfinite(recent) and recent >= self.min_speed_kmh:
            return min(recent, self.max_speed_kmh), "recent"
        lane = self.lane_speeds_kmh.get(f"{snapshot.origin}>{snapshot.destination}")
        if lane is not None:
            return lane, "lane"
        return self.default_speed_kmh, "default"


def baseline_minutes(snapshot: Snapshot, settings: BaselineSettings) -> float:
    """Remaining road distance / speed, plus a dwell at each stop before the last."""
    speed, _ = settings.speed_for(snapshot)
    driving = max(0.0, snapshot.remaining_km) / speed * 60
    return driving + settings.dwell_per_stop_min * max(0, snapshot.stops_left - 1)


@dataclass(frozen=True, slots=True)
class PlacedStop:
    sequence: int
    kind: str
    place: str
    point: Point
    precision: str
    """How it was placed: `city`, or only `country` (the country's freight hub)."""
    window_start: datetime | None
    window_end: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "kind": self.kind, "place": self.place,
                "precision": self.precision}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    key: str
    stops: tuple[PlacedStop, ...]
    carrier: str | None
    picked_up_at: datetime | None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def plan_route(
    key: str,
    document: Mapping[str, Any],
    main_milestone: str | None,
    picked_up_at: datetime | None,
) -> Route | str:
    """The shipment's placed stops in sequence, or why it has none an ETA can use.
    `picked_up_at` counts only once the main chain reached `picked_up`."""
    data = (document.get("shipment") or {}).get("data") or {}
    raw_stops = sorted(
        (s for s in data.get("stops") or [] if isinstance(s, dict)),
        key=lambda s: int(s.get("sequence") or 0),
    )
    if not raw_stops:
        return "the shipment has no stops"
    stops: list[PlacedStop] = []
    for stop in raw_stops:
        address = stop.get("address") or {}
        found = locate(address.get("country"), address.get("city"))
        if found is None:
            where = ", ".join(str(p) for p in (address.get("city"), address.get("country")) if p)
            return f"stop {stop.get('sequence')} ({where or 'no address'}) cannot be placed"
        point, precision = found
        city = address.get("city") if precision == "city" else None
        window = stop.get("window") or {}
        stops.append(
            PlacedStop(
                sequence=int(stop.get("sequence") or 0),
                kind=str(stop.get("kind") or "delivery"),
                place=place_key(str(address["country"]), city),
                point=point,
                precision=precision,
                window_start=_when(window.get("start")),
                window_end=_when(window.get("end")),
            )
        )
    carrier = next(
        (p.get("name") for p in data.get("parties") or [] if p.get("role") == "carrier"), None
    )
    rank = _RANK.get(main_milestone or "", -1)
    picked_up = picked_up_at if rank >= PICKED_UP else None
    return Route(key, tuple(stops), carrier, picked_up)


def next_stop(route: Route, at: Point | None) -> int:
    """The index of the first stop not yet reached."""
    last = len(route.stops) - 1
    if route.picked_up_at is None or last == 0:
        return 0
    index = 1
    if at is None:
        return index
    while index < last:
        here, after = route.stops[index].point, route.stops[index + 1].point
        if road_km(at, after) < road_km(here, after):
            index += 1  # nearer the stop after it than the stop itself: passed
        else:
            break
    return index


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the shipment was last known to be, when, and from what."""

    point: Point
    at: datetime
    source: PositionSource
    speed_kmh: float | None = None


MILESTONE_ACCURACY_M = 10_000.0
"""A position placed from a milestone's city is good to about this (a city's size)."""


def position_source(position: Position) -> PositionSource:
    """A fix from a tracker, or a place a milestone named (city-sized or coarser)."""
    coarse = position.accuracy_m is not None and position.accuracy_m >= MILESTONE_ACCURACY_M
    return "milestone" if coarse else "telematics"


def anchor_of(route: Route, position: Position | None, now: datetime) -> Anchor:
    """The newest known place: the position given, else the pickup at the pickup time,
    else (not picked up yet) the pickup stop at its window's start or now."""
    if position is not None:
        source = position_source(position)
        if route.picked_up_at is None or position.recorded_at >= route.picked_up_at:
            return Anchor(position.point, position.recorded_at, source, position.speed_kmh)
    first = route.stops[0]
    if route.picked_up_at is not None:
        return Anchor(first.point, route.picked_up_at, "pickup")
    start = (
        first.window_start if first.window_start is not None and first.window_start > now else now
    )
    return Anchor(first.point, start, "plan")


@dataclass(frozen=True, slots=True)
class Legs:
    """The distances from the anchor: to the next stop, and to the delivery."""

    next_index: int
    to_next_km: float
    total_km: float


def legs(route: Route, anchor: Anchor) -> Legs:
    index = next_stop(route, anchor.point)
    stops = route.stops
    to_next = road_km(anchor.point, stops[index].point)
    after = sum(road_km(stops[i].point, stops[i + 1].point) for i in range(index, len(stops) - 1))
    return Legs(index, to_next, to_next + after)


def snapshot_of(route: Route, anchor: Anchor, distances: Legs) -> Snapshot:
    picked = route.picked_up_at
    first = route.stops[0]
    dwell = None
    if picked is not None and first.window_start is not None:
        dwell = max(0.0, (picked - first.window_start).total_seconds() / 60)
    return Snapshot(
        origin=first.place,
        destination=route.stops[-1].place,
        carrier=route.carrier,
        at=anchor.at,
        longitude=anchor.point.longitude,
        remaining_km=distances.total_km,
        speed_kmh=anchor.speed_kmh,
        elapsed_min=max(0.0, (anchor.at - picked).total_seconds() / 60) if picked else 0.0,
        dwell_min=dwell,
        stops_left=len(route.stops) - distances.next_index,
    )


@dataclass(frozen=True, slots=True)
class Eta:
    """An arrival time with its interval: p10 <= at <= p90."""

    at: datetime
    p10: datetime
    p90: datetime

    def to_json(self) -> dict[str, str]:
        return {"at": iso(self.at), "p10": iso(self.p10), "p90": iso(self.p90)}


def anchored(start: datetime, minutes: Sequence[float], now: datetime) -> Eta:
    """(low, mid, high) minutes from `start` as an ETA no earlier than now. A truck
    overdue on its estimate arrives "now" at the soonest, keeping its interval's upper
    width, so an overdue shipment shows as due any minute with the doubt it had."""
    low, mid, high = sorted(float(m) for m in minutes)
    at = start + timedelta(minutes=mid)
    p10, p90 = start + timedelta(minutes=low), start + timedelta(minutes=high)
    if at < now:
        p90 = now + (p90 - at)
        at = p10 = now
    elif p10 < now:
        p10 = now
    return Eta(at, p10, p90)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One shipment's arrival times as of `computed_at`, with what they rest on."""

    key: str
    computed_at: datetime
    method: Method
    model_version: int | None
    reason: str
    """Why this method: the model's held-out score, or why the baseline stands in."""
    next_stop: PlacedStop
    next: Eta
    delivery: Eta
    remaining_km: float
    speed_kmh: float
    speed_source: str
    position_source: PositionSource
    position_at: datetime
    baseline_at: datetime | None = None
    """The baseline's arrival at the delivery, kept beside the model's so the two can be
    scored against the real arrival (`eta_outcomes`)."""

    @property
    def position_age_s(self) -> float:
        return max(0.0, (self.computed_at - self.position_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "computed_at": iso(self.computed_at),
            "method": self.method,
            "model_version": self.model_version,
            "reason": self.reason,
            "next_stop": {**self.next_stop.to_json(), **self.next.to_json()},
            "delivery": self.delivery.to_json(),
            "baseline_at": iso(self.baseline_at) if self.baseline_at else None,
            "remaining_km": round(self.remaining_km, 1),
            "speed_kmh": round(self.speed_kmh, 1),
            "speed_source": self.speed_source,
            "position": {
                "source": self.position_source,
                "at": iso(self.position_at),
                "age_seconds": round(self.position_age_s),
            },
        }


def estimate(
    route: Route,
    anchor: Anchor,
    distances: Legs,
    snapshot: Snapshot,
    now: datetime,
    settings: BaselineSettings,
    learned: tuple[float, float, float] | None = None,
    model_version: int | None = None,
    reason: str = "",
) -> Estimate:
    """The estimate from the baseline, or from the model's (p10, p50, p90) minutes to the
    delivery when given. The next stop, when it is not the delivery, takes the baseline's
    minutes to it scaled as the model scaled the whole trip."""
    base = baseline_minutes(snapshot, settings)
    speed, speed_source = settings.speed_for(snapshot)
    if learned is not None:
        low, mid, high = sorted(learned)
        mid = max(mid, 0.0)
        method: Method = "model"
    else:
        low, mid, high = base * settings.low, base, base * settings.high
        method = "baseline"
    delivery = anchored(anchor.at, (low, mid, high), now)
    last = len(route.stops) - 1
    if distances.next_index == last:
        upcoming = delivery
    else:
        to_next = distances.to_next_km / speed * 60
        scale = mid / base if base > 0 else 1.0
        spread_low = low / mid if mid > 0 else settings.low
        spread_high = high / mid if mid > 0 else settings.high
        point = to_next * scale
        upcoming = anchored(anchor.at, (point * spread_low, point, point * spread_high), now)
    return Estimate(
        key=route.key,
        computed_at=now,
        method=method,
        model_version=model_version if method == "model" else None,
        reason=reason,
        next_stop=route.stops[distances.next_index],
        next=upcoming,
        delivery=delivery,
        remaining_km=distances.total_km,
        speed_kmh=speed,
        speed_source=speed_source,
        position_source=anchor.source,
        position_at=anchor.at,
        baseline_at=anchored(anchor.at, (base, base, base), now).at,
    )


def eta_for(conn: Connection, key: str) -> dict[str, Any] | None:
    """The shipment's latest arrival times as the refresh job stored them (what the API
    and the control tower show), or None when it has none. Includes `warning`: the open
    predicted-delay case, if any."""
    from intermodal.store.tables import eta_predictions

    row = conn.execute(select(eta_predictions).where(eta_predictions.c.key == key)).first()
    if row is None:
        return None
    found: dict[str, Any] = orjson.loads(row.detail)
    found["deadline"] = row.deadline
    found["published"] = {"at": row.published_eta, "sent_at": row.published_at}
    found["warning"] = {"case_id": row.warning_case_id} if row.warning_case_id else None
    return found
