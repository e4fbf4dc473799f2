"""Deterministic event streams with planted anomalies, for the anomaly tests and bench.

A small world: carriers on lanes of their own (a chatty parcel carrier in the US, a road
carrier in Europe that always uploads its pick-up scan after its in-transit one, an air
carrier from China), a TMS and a WMS busy by day and quiet by night, and a customs broker
that writes a message every forty minutes or so. Shipments leave at each lane's rate and
stay at each milestone for a lognormal time of the lane's; some have an exception on the
way; every milestone is reported by the lane's carrier a little after it happened.

`stream(seed)` draws two weeks (or `days`) of that, ending at `now`, and plants at the end
some of: a partner gone quiet, a burst of exceptions from one carrier, a shipment stuck far
longer than its lane's usual, and a carrier reporting deliveries before out-for-delivery.
What was planted is in `Stream.planted`, so a detector's findings can be scored. The same
seed gives the same stream, event for event.

The hub's `History` is made straight from the stream (`to_history`, for the pure
detectors), or the stream is written into a hub's store as the inbox, events and shipments
a running hub would have (`load`), for the detectors' reading path.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select

from intermodal.canonical.model import MAIN_CHAIN
from intermodal.engine.ids import iso, stable_id
from intermodal.foresight.anomalies import Active, History, Report
from intermodal.store import Store
from intermodal.store.tables import events, inbox, shipments

CHAIN = [m.value for m in MAIN_CHAIN]
Z95 = 1.6449


@dataclass(frozen=True)
class Lane:
    origin: tuple[str, str]
    destination: tuple[str, str]
    carrier: str
    per_hour: float
    """Shipments leaving per hour."""
    hours: tuple[float, float, float, float, float]
    """Median hours from each main-chain milestone to the next (booked ... delivered)."""
    sigma: float = 0.35

    @property
    def name(self) -> str:
        return f"{self.origin[1]}>{self.destination[1]}"

    def p95_hours(self, milestone: str) -> float:
        return self.hours[CHAIN.index(milestone)] * math.exp(Z95 * self.sigma)


@dataclass(frozen=True)
class Partner:
    name: str
    day_rate: float
    """Messages per hour from 06:00 to 22:00 UTC (besides its milestone reports)."""
    night_rate: float
    exception_share: float = 0.0
    """Shipments of its lanes that get an exception or a failed delivery on the way."""
    pickup_scan_late: bool = False
    """Reports picked_up after in_transit (its pick-up scans are uploaded at the depot)."""


PARTNERS = {
    p.name: p
    for p in (
        Partner("tms", 20.0, 2.0),
        Partner("wms", 12.0, 0.1),
        Partner("customs", 1.5, 1.5),
        Partner("parcelpro", 10.0, 10.0, exception_share=0.22),
        Partner("freightline", 2.0, 0.5, exception_share=0.02, pickup_scan_late=True),
        Partner("skyfreight", 1.0, 1.0, exception_share=0.06),
    )
}
LANES = (
    Lane(("Chicago", "US"), ("Boston", "US"), "parcelpro", 12.0, (1, 3, 2, 18, 4)),
    Lane(("Hamburg", "DE"), ("Lyon", "FR"), "freightline", 1.5, (2, 6, 1, 30, 6)),
    Lane(("Shanghai", "CN"), ("Frankfurt", "DE"), "skyfreight", 0.4, (12, 24, 6, 60, 8)),
)
DAY_HOURS = range(6, 22)


@dataclass
class Shipment:
    key: str
    lane: Lane
    marks: dict[str, datetime] = field(default_factory=dict)
    """Main-chain milestone -> when it happened."""


@dataclass(frozen=True)
class SimReport:
    partner: str
    subject: str
    milestone: str
    occurred_at: datetime
    recorded_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Planted:
    detector: str
    subject: str
    also: tuple[str, ...] = ()
    """Other anomaly keys this one explains (a carrier's burst shows on its lanes too)."""

    @property
    def key(self) -> str:
        return f"{self.detector}:{self.subject}"


@dataclass
class Stream:
    seed: int
    start: datetime
    now: datetime
    messages: list[tuple[str, datetime]]
    reports: list[SimReport]
    shipments: dict[str, Shipment]
    planted: list[Planted]

    def partners(self) -> list[str]:
        return sorted(PARTNERS)

    def seen(self) -> tuple[list[tuple[str, datetime]], list[SimReport]]:
        """What the hub has received by `now`: messages and reports, in arrival order."""
        messages = sorted((m for m in self.messages if m[1] <= self.now), key=lambda m: m[1])
        reports = sorted(
            (r for r in self.reports if r.recorded_at <= self.now),
            key=lambda r: (r.recorded_at, r.subject, r.milestone),
        )
        return messages, reports

    def state(self, reports: Iterable[SimReport]) -> dict[str, tuple[str, datetime]]:
        """Per shipment, its highest main-chain milestone reported by `now` and when."""
        reached: dict[str, tuple[str, datetime]] = {}
        for r in reports:
            if r.milestone not in CHAIN:
                continue
            held = reached.get(r.subject)
            if held is None or CHAIN.index(r.milestone) > CHAIN.index(held[0]):
                reached[r.subject] = (r.milestone, r.occurred_at)
        return reached


def _poisson_times(
    rng: random.Random, start: datetime, end: datetime, day: float, night: float
) -> list[datetime]:
    """Arrivals of a Poisson process whose rate is `day` by day and `night` by night."""
    out = []
    at = start
    while at < end:
        rate = day if at.hour in DAY_HOURS else night
        step = rng.expovariate(max(rate, 1e-9)) * 3600
        hour_end = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if at + timedelta(seconds=step) >= hour_end:
            at = hour_end  # memoryless: draw again at the next hour's rate
            continue
        at += timedelta(seconds=step)
        if at < end:
            out.append(at)
    return out


def _lag(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.lognormvariate(math.log(90), 0.6))


def stream(
    seed: int, days: float = 14.0, plant: Iterable[str] | None = None, now: datetime | None = None
) -> Stream:
    """A stream of `days` ending at `now` (by default a time of day drawn from the seed),
    with the anomalies named in `plant` (`quiet`, `burst`, `dwell`, `order`; None: each
    with probability 0.7; empty: none, a normal stream)."""
    rng = random.Random(seed)
    if now is None:
        base = datetime(2026, 11, 30, tzinfo=UTC)
        now = base + timedelta(hours=rng.uniform(0, 24 * 7))
    now = now.replace(microsecond=0)
    start = now - timedelta(days=days)
    wanted = (
        [d for d in ("quiet", "burst", "dwell", "order") if rng.random() < 0.7]
        if plant is None
        else list(plant)
    )
    messages = [
        (name, at)
        for name, partner in PARTNERS.items()
        for at in _poisson_times(rng, start, now, partner.day_rate, partner.night_rate)
    ]
    shipments: dict[str, Shipment] = {}
    reports: list[SimReport] = []
    # shipments that left up to three of their lane's journeys before the window
    for lane in LANES:
        journey = sum(lane.hours) * 3
        for at in _poisson_times(
            rng, start - timedelta(hours=journey), now, lane.per_hour, lane.per_hour
        ):
            key = f"{lane.carrier[:3].upper()}-{len(shipments) + 1:06d}"
            ship = Shipment(key, lane, {"booked": at})
            when = at
            for milestone, hours in zip(CHAIN[1:], lane.hours, strict=True):
                when += timedelta(hours=rng.lognormvariate(math.log(hours), lane.sigma))
                ship.marks[milestone] = when
            shipments[key] = ship
            reports.extend(_reports_of(rng, ship))
    planted: list[Planted] = []
    # the silence last, on a partner no other plant made busy: a quiet partner bursts not
    for name in sorted(wanted, key=lambda n: n == "quiet"):
        if name == "quiet":
            taken = {p.subject.removeprefix("partner:") for p in planted}
            found = _plant_quiet(rng, now, messages, reports, sorted(set(PARTNERS) - taken))
        else:
            planter = {"burst": _plant_burst, "dwell": _plant_dwell, "order": _plant_order}[name]
            found = planter(rng, now, messages, reports, shipments)
        if found is not None:
            planted.append(found)
    return Stream(seed, start, now, messages, reports, shipments, planted)


def _reports_of(rng: random.Random, ship: Shipment) -> list[SimReport]:
    carrier = PARTNERS[ship.lane.carrier]
    out = []
    for milestone, at in ship.marks.items():
        recorded = at + _lag(rng)
        if carrier.pickup_scan_late and milestone == "picked_up":
            recorded = ship.marks["in_transit"] + _lag(rng)
        out.append(SimReport(carrier.name, ship.key, milestone, at, recorded))
    if rng.random() < carrier.exception_share:
        low, high = ship.marks["picked_up"], ship.marks["delivered"]
        at = low + (high - low) * rng.uniform(0.2, 0.9)
        kind = rng.choice(["exception", "delivery_failed"])
        out.append(SimReport(carrier.name, ship.key, kind, at, at + _lag(rng), "sim"))
    return out


def _in_flight(
    shipments: dict[str, Shipment], reports: list[SimReport], now: datetime, carrier: str
) -> list[str]:
    reached: dict[str, str] = {}
    for r in reports:
        if not (r.partner == carrier and r.recorded_at <= now and r.milestone in CHAIN):
            continue
        held = reached.get(r.subject)
        if held is None or CHAIN.index(r.milestone) > CHAIN.index(held):
            reached[r.subject] = r.milestone
    # a shipment planted as stuck stays stuck: no other plant moves it
    moving = ("picked_up", "in_transit")
    return sorted(k for k, m in reached.items() if m in moving and not k.startswith("STUCK-"))


def _plant_quiet(
    rng: random.Random,
    now: datetime,
    messages: list[tuple[str, datetime]],
    reports: list[SimReport],
    candidates: list[str],
) -> Planted | None:
    """Silence a partner usually busy at these hours for 4-8 times its p99 gap (at least
    45 minutes, at most 6 hours)."""

    def rate(name: str, hour: int) -> float:
        partner = PARTNERS[name]
        own = partner.day_rate if hour in DAY_HOURS else partner.night_rate
        return own + sum(lane.per_hour * 6 for lane in LANES if lane.carrier == name)

    name = rng.choice(candidates)
    p99_hours = math.log(100) / rate(name, now.hour)
    silence = timedelta(hours=min(max(rng.uniform(4, 8) * p99_hours, 0.75), 6.0))
    span = math.ceil(silence.total_seconds() / 3600)
    hours = {(now - timedelta(hours=h)).hour for h in range(span + 1)}
    if any(rate(name, hour) < 6.0 for hour in hours):
        return None  # too slow, or usually quiet now: its silence would be no anomaly
    cut = now - silence
    messages[:] = [m for m in messages if not (m[0] == name and m[1] > cut)]
    reports[:] = [r for r in reports if not (r.partner == name and cut < r.recorded_at <= now)]
    return Planted("quiet", f"partner:{name}")


def _plant_burst(
    rng: random.Random,
    now: datetime,
    messages: list[tuple[str, datetime]],
    reports: list[SimReport],
    shipments: dict[str, Shipment],
) -> Planted | None:
    """A carrier reports far more exceptions in the last 50 minutes than it ever does."""
    carrier = rng.choice(sorted({lane.carrier for lane in LANES}))
    partner = PARTNERS[carrier]
    lanes = [lane for lane in LANES if lane.carrier == carrier]
    usual = sum(lane.per_hour for lane in lanes) * partner.exception_share
    count = math.ceil(usual + rng.uniform(7, 9) * math.sqrt(max(usual, 1.0)))
    flying = _in_flight(shipments, reports, now, carrier)
    if len(flying) < count:
        return None
    for key in rng.sample(flying, count):
        at = now - timedelta(minutes=rng.uniform(5, 50))
        reports.append(SimReport(carrier, key, "exception", at, at + timedelta(seconds=30)))
    return Planted("burst", f"partner:{carrier}", tuple(f"burst:lane:{x.name}" for x in lanes))


def _plant_dwell(
    rng: random.Random,
    now: datetime,
    messages: list[tuple[str, datetime]],
    reports: list[SimReport],
    shipments: dict[str, Shipment],
) -> Planted | None:
    """A shipment stuck at in_transit or out_for_delivery 3-5 times its lane's p95 dwell."""
    lane = rng.choice(LANES)
    milestone = rng.choice(["in_transit", "out_for_delivery"])
    stuck = timedelta(hours=rng.uniform(3, 5) * lane.p95_hours(milestone))
    key = f"STUCK-{rng.randrange(10**6):06d}"
    ship = Shipment(key, lane)
    when = now - stuck
    index = CHAIN.index(milestone)
    ship.marks[milestone] = when
    for back in range(index - 1, -1, -1):
        when -= timedelta(hours=lane.hours[back])
        ship.marks[CHAIN[back]] = when
    ship.marks = dict(sorted(ship.marks.items(), key=lambda m: CHAIN.index(m[0])))
    shipments[key] = ship
    carrier = PARTNERS[lane.carrier]
    for m, at in ship.marks.items():
        reports.append(SimReport(carrier.name, key, m, at, at + _lag(rng)))
    return Planted("dwell", key)


def _plant_order(
    rng: random.Random,
    now: datetime,
    messages: list[tuple[str, datetime]],
    reports: list[SimReport],
    shipments: dict[str, Shipment],
) -> Planted | None:
    """A carrier sends `delivered` before `out_for_delivery` for 5-8 shipments this hour."""
    carrier = rng.choice(["parcelpro", "skyfreight"])
    window = now - timedelta(hours=1)
    flying = _in_flight(shipments, reports, window, carrier)
    count = rng.randint(5, 8)
    if len(flying) < count:
        return None
    chosen = set(rng.sample(flying, count))
    # their main-chain reports from the window on are replaced by the two below
    reports[:] = [
        r
        for r in reports
        if not (r.subject in chosen and r.milestone in CHAIN and r.recorded_at > window)
    ]
    for key in sorted(chosen):
        delivered = now - timedelta(minutes=rng.uniform(20, 50))
        ofd = delivered - timedelta(minutes=rng.uniform(30, 90))
        reports.append(SimReport(carrier, key, "delivered", delivered, delivered))
        late = delivered + timedelta(minutes=rng.uniform(1, 15))
        reports.append(SimReport(carrier, key, "out_for_delivery", ofd, late))
        ship = shipments[key]
        ship.marks = {m: at for m, at in ship.marks.items() if at <= window}
        ship.marks.update({"out_for_delivery": ofd, "delivered": delivered})
    return Planted("order", f"partner:{carrier}")


# -- what the hub would hold ----------------------------------------------------------------
def lane_document(ship: Shipment) -> dict[str, Any]:
    stops = [
        {"sequence": 1, "kind": "pickup",
         "address": {"city": ship.lane.origin[0], "country": ship.lane.origin[1]}},
        {"sequence": 2, "kind": "delivery",
         "address": {"city": ship.lane.destination[0], "country": ship.lane.destination[1]}},
    ]  # fmt: skip
    return {"shipment": {"data": {"key": ship.key, "stops": stops}}}


def to_history(s: Stream) -> History:
    """The hub's view at `now`, straight from the stream (no store)."""
    messages, seen = s.seen()
    received: dict[str, list[datetime]] = {name: [] for name in PARTNERS}
    for name, at in messages:
        received[name].append(at)
    for r in seen:
        received[r.partner].append(r.recorded_at)
    reports = [
        Report(i + 1, r.partner, r.subject, r.milestone, r.occurred_at, r.recorded_at)
        for i, r in enumerate(seen)
    ]
    active = [
        Active(key, milestone, at)
        for key, (milestone, at) in sorted(s.state(seen).items())
        if milestone != "delivered"
    ]
    lanes = {key: ship.lane.name for key, ship in s.shipments.items()}
    return History(s.now, received, {}, reports, lanes, active)


def load(store: Store, s: Stream, chunk: int = 5000) -> None:
    """Write what a hub would hold at `now`: every message in the inbox (applied), every
    milestone in the events with its message, and the shipments with their lanes and state
    (as the applier writes them; engine/applier.py)."""
    messages, seen = s.seen()
    rows: list[dict[str, Any]] = []
    for i, (name, at) in enumerate(messages):
        rows.append(inbox_row(name, f"msg-{s.seed}-{i}", at, b"{}"))
    event_rows: list[dict[str, Any]] = []
    for i, r in enumerate(seen):
        event_id = f"evt-{s.seed}-{i}"
        data = {"milestone": r.milestone, "occurred_at": iso(r.occurred_at)}
        body = {"specversion": "1.0", "id": event_id, "source": r.partner,
                "type": "intermodal.shipment.milestone", "subject": r.subject,
                "time": iso(r.occurred_at), "data": data}  # fmt: skip
        row = inbox_row(r.partner, event_id, r.recorded_at, orjson.dumps([body]))
        rows.append(row)
        event_rows.append(
            {
                "event_id": event_id,
                "partner": r.partner,
                "source": r.partner,
                "type": "shipment.milestone",
                "subject": r.subject,
                "time": iso(r.occurred_at),
                "milestone": r.milestone,
                "occurred_at": iso(r.occurred_at),
                "meaning_key": stable_id("mk", r.partner, event_id),
                "outcome": "applied",
                "inbox_seq": 0,
                "receipt_id": row["receipt_id"],
                "recorded_at": iso(r.recorded_at),
                "correlation_id": row["correlation_id"],
                "data": orjson.dumps(data).decode(),
            }
        )
    rows.sort(key=lambda row: row["received_at"])
    event_rows.sort(key=lambda row: (row["recorded_at"], row["event_id"]))
    state = s.state(seen)
    ship_rows = []
    for key, (milestone, at) in sorted(state.items()):
        ship = s.shipments[key]
        stamp = iso(at)
        ship_rows.append(
            {
                "key": key,
                "state": milestone,
                "state_at": stamp,
                "main_milestone": milestone,
                "main_at": stamp,
                "document": orjson.dumps(lane_document(ship)).decode(),
                "created_at": iso(ship.marks["booked"]),
                "updated_at": stamp,
            }
        )
    with store.write() as conn:
        for start in range(0, len(rows), chunk):
            conn.execute(insert(inbox), rows[start : start + chunk])
        seqs = dict(conn.execute(select(inbox.c.receipt_id, inbox.c.seq)).all())
        for row in event_rows:
            row["inbox_seq"] = seqs[row["receipt_id"]]
        for start in range(0, len(event_rows), chunk):
            conn.execute(insert(events), event_rows[start : start + chunk])
        for start in range(0, len(ship_rows), chunk):
            conn.execute(insert(shipments), ship_rows[start : start + chunk])


def inbox_row(partner: str, message_id: str, at: datetime, body: bytes) -> dict[str, Any]:
    """An applied inbox row of `partner`'s message, received at `at`."""
    return {
        "receipt_id": stable_id("rcpt", partner, message_id)[:40],
        "partner": partner,
        "message_id": message_id,
        "channel": "webhook",
        "content_type": "application/json",
        "body": body,
        "correlation_id": stable_id("corr", partner, message_id)[:64],
        "received_at": iso(at),
        "status": "applied",
        "processed_at": iso(at),
    }
