"""Positions: telematics fixes -> the latest position and a thinned track per shipment.

Fixes arrive as `intermodal.position.reported` events (a telematics partner's mapping, or
canonical events on `/v1/events`), many per minute per truck, noisy, repeated and out of
order. The applier hands them here instead of filing them as events (engine/applier.py,
`PositionIntake`): a fix is never a line of the shipment's history, never a command to
Odoo or a partner. What the hub keeps of them:

- **the latest position** per shipment (`positions_latest`): the newest fix by its own
  time. An older fix never replaces it, whatever order fixes arrive in;
- **a thinned track** (`positions_track`): a point whenever the vehicle has moved
  `track_distance_km` or `track_interval` has passed since the point before it. A late
  fix enters the track when it is that far from both its neighbours (it fills a gap), and
  is dropped otherwise ("thinned"): adjacent track points are always that far apart, and
  every fix the hub accepted lies within both bounds of a track point;
- **what it refused, and why**, counted per shipment and per partner
  (`intermodal_positions_refused`): `implied_speed` (the fix is further from the fixes
  beside it than `max_speed_kmh` allows: a GPS jump), `accuracy` (less sure than
  `max_accuracy_m`), `future` (ahead of the hub's clock by more than
  `future_tolerance`), `no_fix` (0, 0: a device with no fix), `unassigned` (a fix for a
  vehicle no shipment is assigned to) and `outvoted` (see below).

Duplicates: a fix at the same instant as one the hub holds for the shipment (its latest,
a track point, the suspect, a fix of the same batch) is a duplicate, whatever its
coordinates: a device reports one position per instant. A repeat of a fix the track
thinned out is thinned out again, with the same effect.

Two fixes outvote one. A jump is judged against the latest position, so a wrong fix that
arrives first would make every good fix after it look like a jump. The refused fix is
kept as the *suspect*; when the next fix is refused against the latest position too but
agrees with the suspect (a plausible move between them), the latest position was the
outlier: it is dropped (refused as `outvoted`, and out of the track), and the suspect
and the new fix are taken in their time order. The latest position's time still only
moves forward.

Which shipment: a fix's subject is the shipment key, or `vehicle:<id>` when the provider
knows only the vehicle. Such a fix goes to the shipment the vehicle carries at the fix's
time: the newest `intermodal.vehicle.assigned` for that vehicle at or before it, unless
that assignment ended (`until`) first. Assignments come from the dispatch system (the
TMS example mapping turns its "dispatched, truck TRK-417" status into one) or from the
telematics provider's own trip start.

The rules are pure (`fold` and the functions above it: no I/O but the track look-up it
is handed); `PositionIntake` is the imperative shell the applier calls once per batch:
it reads the rows the batch touches, folds the fixes in arrival order, and returns the
writes, which are made in the batch's transaction. Each latest row carries a version:
a batch decided from an older row writes nothing and is decided again (the applier's
`Superseded`).

Reading them (f-eta, the tower's map, `GET /v1/shipments/{key}/positions`,
`GET /v1/positions`), each with a connection from `store.read()`:

- `latest(conn, key) -> Position | None`: the shipment's latest position;
- `track(conn, key, since=None, limit=TRACK_LIMIT) -> list[Position]`: its thinned
  track, oldest first;
- `active_positions(conn, after=None, limit=..., since=None) -> list[Position]`: the
  latest position of every shipment not delivered, cancelled or returned, by shipment
  key, a page at a time (`after`: the last key of the page before);
- `summary(conn, key) -> PositionSummary | None`: the latest position with what the hub
  made of the shipment's fixes (counts, refusals by reason, the last refusal).

A `Position` (foresight/geo.py) is frozen: `shipment_key`, `latitude`, `longitude`,
`recorded_at` (aware, UTC), `speed_kmh`, `heading`, `accuracy_m`, `vehicle_id`.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, UpdateBase

from intermodal.canonical.events import VEHICLE_SUBJECT, PositionReported, VehicleAssigned
from intermodal.config import PositionsConfig, Settings
from intermodal.engine.ids import iso
from intermodal.foresight.geo import Position, haversine_km
from intermodal.store import Store
from intermodal.store.store import driver_tuples, rows_in
from intermodal.store.tables import (
    positions_latest,
    positions_track,
    shipments,
    vehicle_assignments,
)

TRACK_LIMIT = 5000
"""The most track points one read returns (a week of driving at the default thinning)."""
ACTIVE_LIMIT = 1000
"""The most shipments one page of `active_positions` returns."""
FINAL_STATES = ("delivered", "cancelled", "returned")
"""Shipments in these states are no longer on the road: `active_positions` leaves them out."""
_CHUNK = 500


class Outcome(StrEnum):
    """What the hub did with one fix (`intermodal_positions{outcome}`)."""

    LATEST = "latest"
    """The shipment's newest fix: its latest position now (and a track point when far
    enough from the one before)."""
    TRACKED = "tracked"
    """Older than the latest position, and far enough from its neighbours to fill a gap."""
    THINNED = "thinned"
    """Older than the latest position, and close to a track point: dropped."""
    DUPLICATE = "duplicate"
    REFUSED = "refused"


class Reason(StrEnum):
    """Why a fix was refused (`intermodal_positions_refused{reason}`)."""

    IMPLIED_SPEED = "implied_speed"
    ACCURACY = "accuracy"
    FUTURE = "future"
    NO_FIX = "no_fix"
    UNASSIGNED = "unassigned"
    OUTVOTED = "outvoted"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: Reason | None = None


# -- the rules ---------------------------------------------------------------------------


def implied_speed_kmh(a: Position, b: Position, slack_m: float) -> float:
    """How fast a vehicle must have gone to be at both fixes, after forgiving their
    jitter (the larger of `slack_m` and their accuracies together); infinite for two
    places at one instant."""
    slack_km = max(slack_m, (a.accuracy_m or 0.0) + (b.accuracy_m or 0.0)) / 1000.0
    km = max(0.0, haversine_km(a.point, b.point) - slack_km)
    if km == 0.0:
        return 0.0
    hours = abs((b.recorded_at - a.recorded_at).total_seconds()) / 3600.0
    return math.inf if hours == 0.0 else km / hours


def plausible(a: Position, b: Position, rules: PositionsConfig) -> bool:
    """Whether one vehicle could have been at both fixes."""
    return implied_speed_kmh(a, b, rules.jump_slack_m) <= rules.max_speed_kmh


def far_apart(a: Position, b: Position, rules: PositionsConfig) -> bool:
    """Whether two fixes are both kept in a track: `track_interval` apart in time, or
    `track_distance_km` apart in space."""
    seconds = abs((b.recorded_at - a.recorded_at).total_seconds())
    return seconds >= rules.track_interval or (
        haversine_km(a.point, b.point) >= rules.track_distance_km
    )


def refusal(fix: Position, rules: PositionsConfig, now: datetime) -> Reason | None:
    """What is wrong with a fix on its own, whatever else the hub knows."""
    if fix.latitude == 0.0 and fix.longitude == 0.0:
        return Reason.NO_FIX
    if fix.accuracy_m is not None and fix.accuracy_m > rules.max_accuracy_m:
        return Reason.ACCURACY
    if fix.recorded_at > now + timedelta(seconds=rules.future_tolerance):
        return Reason.FUTURE
    return None


class TrackView(Protocol):
    """The stored track of a shipment, as the fold needs to see it around a late fix."""

    def neighbours(
        self, key: str, at: datetime, excluding: frozenset[datetime]
    ) -> tuple[Position | None, Position | None]:
        """The stored points of `key` nearest `at` and not `excluding`: the last at or
        before it, the first after it."""
        ...


@dataclass
class ShipmentPositions:
    """What the hub holds of one shipment's positions, and this batch's changes to it."""

    key: str
    latest: Position | None = None
    suspect: Position | None = None
    """The last fix refused as a jump from the latest position, while it may be confirmed."""
    tail: Position | None = None
    """The newest track point."""
    track_points: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    """fixes, latest, tracked, thinned, duplicate, and `refused:<reason>`."""
    last_rejection: dict[str, Any] | None = None
    partner: str | None = None
    """Who reported the latest position."""
    version: int | None = None
    """The stored row's version; None: no row yet."""
    inserted: dict[datetime, Position] = field(default_factory=dict)
    deleted: set[datetime] = field(default_factory=set)
    seen: set[datetime] = field(default_factory=set)
    """The instants of this batch's fixes, refused ones aside."""


def fold(
    state: ShipmentPositions,
    fix: Position,
    rules: PositionsConfig,
    now: datetime,
    view: TrackView,
    partner: str = "",
) -> Verdict:
    """Take one fix into the shipment's positions (module docstring: the rules)."""
    state.counts["fixes"] += 1
    reason = refusal(fix, rules, now)
    if reason is not None:
        return _refuse(state, fix, reason, now)
    at = fix.recorded_at
    latest, suspect = state.latest, state.suspect
    if (
        at in state.seen
        or (latest is not None and at == latest.recorded_at)
        or (suspect is not None and at == suspect.recorded_at)
    ):
        return _tally(state, Verdict(Outcome.DUPLICATE))
    if latest is None or at > latest.recorded_at:
        verdict = _newest(state, fix, rules, now, view, partner)
    else:
        verdict = _older(state, fix, rules, now, view)
    if verdict.outcome is not Outcome.DUPLICATE:
        state.seen.add(at)
    return _tally(state, verdict)


def _tally(state: ShipmentPositions, verdict: Verdict) -> Verdict:
    state.counts[verdict.outcome.value] += 1
    return verdict


def _refuse(
    state: ShipmentPositions, fix: Position, reason: Reason, now: datetime, detail: str = ""
) -> Verdict:
    state.counts[f"refused:{reason.value}"] += 1
    state.last_rejection = {
        "reason": reason.value,
        "recorded_at": iso(fix.recorded_at),
        "refused_at": iso(now),
        **({"detail": detail} if detail else {}),
    }
    return _tally(state, Verdict(Outcome.REFUSED, reason))


def _newest(
    state: ShipmentPositions,
    fix: Position,
    rules: PositionsConfig,
    now: datetime,
    view: TrackView,
    partner: str,
) -> Verdict:
    latest, suspect = state.latest, state.suspect
    if latest is None or plausible(latest, fix, rules):
        _advance(state, fix, rules, partner)
        return Verdict(Outcome.LATEST)
    if (
        suspect is not None
        and suspect.recorded_at > latest.recorded_at
        and plausible(suspect, fix, rules)
    ):
        _outvote(state, view, now)
        first, second = sorted((suspect, fix), key=lambda p: p.recorded_at)
        _advance(state, first, rules, partner)
        tracked = _advance(state, second, rules, partner)
        if fix is second:
            return Verdict(Outcome.LATEST)
        return Verdict(Outcome.TRACKED if tracked else Outcome.THINNED)
    speed = implied_speed_kmh(latest, fix, rules.jump_slack_m)
    state.suspect = fix
    shown = "an instant" if math.isinf(speed) else f"{speed:.0f} km/h"
    detail = f"{shown} from the latest position ({iso(latest.recorded_at)})"
    return _refuse(state, fix, Reason.IMPLIED_SPEED, now, detail)


def _advance(state: ShipmentPositions, fix: Position, rules: PositionsConfig, partner: str) -> bool:
    """`fix` is the newest: the latest position, and a track point when far from the tail."""
    state.latest, state.suspect, state.partner = fix, None, partner
    if state.tail is None or far_apart(state.tail, fix, rules):
        _insert(state, fix)
        return True
    return False


def _insert(state: ShipmentPositions, fix: Position) -> None:
    state.inserted[fix.recorded_at] = fix
    state.deleted.discard(fix.recorded_at)
    state.track_points += 1
    if state.tail is None or fix.recorded_at > state.tail.recorded_at:
        state.tail = fix


def _outvote(state: ShipmentPositions, view: TrackView, now: datetime) -> None:
    """The latest position was the outlier: refuse it after the fact, out of the track."""
    wrong = state.latest
    assert wrong is not None
    _refuse(state, wrong, Reason.OUTVOTED, now, "two later fixes agree with each other")
    if state.tail is not None and state.tail.recorded_at == wrong.recorded_at:
        if state.inserted.pop(wrong.recorded_at, None) is None:
            state.deleted.add(wrong.recorded_at)
        state.track_points -= 1
        state.tail, _ = _neighbours(state, wrong.recorded_at, view)
    state.latest = None


def _neighbours(
    state: ShipmentPositions, at: datetime, view: TrackView
) -> tuple[Position | None, Position | None]:
    """The track points nearest `at`, this batch's changes included."""
    before, after = view.neighbours(state.key, at, frozenset(state.deleted))
    for point in state.inserted.values():
        t = point.recorded_at
        if t <= at and (before is None or t > before.recorded_at):
            before = point
        elif t > at and (after is None or t < after.recorded_at):
            after = point
    return before, after


def _older(
    state: ShipmentPositions,
    fix: Position,
    rules: PositionsConfig,
    now: datetime,
    view: TrackView,
) -> Verdict:
    """A fix older than the latest position: checked against the accepted fixes on
    either side of it, then into the track if it fills a gap."""
    before, after = _neighbours(state, fix.recorded_at, view)
    if before is not None and before.recorded_at == fix.recorded_at:
        return Verdict(Outcome.DUPLICATE)
    for other in (before, after if after is not None else state.latest):
        if other is not None and not plausible(other, fix, rules):
            speed = implied_speed_kmh(other, fix, rules.jump_slack_m)
            shown = "an instant" if math.isinf(speed) else f"{speed:.0f} km/h"
            detail = f"{shown} from the fix at {iso(other.recorded_at)}"
            return _refuse(state, fix, Reason.IMPLIED_SPEED, now, detail)
    if (before is None or far_apart(before, fix, rules)) and (
        after is None or far_apart(fix, after, rules)
    ):
        _insert(state, fix)
        return Verdict(Outcome.TRACKED)
    return Verdict(Outcome.THINNED)


# -- the shell: one batch of fixes in, the writes out -----------------------------------


@dataclass(frozen=True, slots=True)
class _Fix:
    partner: str
    event: PositionReported


@dataclass
class PositionDecision:
    """What a batch's fixes and assignments change, and how they were judged."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(partner, outcome) -> fixes."""
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(partner, reason) -> fixes refused."""
    _writes: list[Callable[[Connection], bool]] = field(default_factory=list)

    def write(self, conn: Connection) -> bool:
        """Make the writes in `conn`'s transaction; False when a shipment's row moved
        meanwhile (the caller abandons the transaction and decides again)."""
        return all(step(conn) for step in self._writes)


class PositionIntake:
    """The fixes and vehicle assignments of one apply batch, taken out of the event path.

    `take` answers whether an event is one of them (and keeps it); `decide` folds them,
    reading through `conn`, and returns the writes."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.fixes: list[_Fix] = []
        self.assignments: list[tuple[str, VehicleAssigned]] = []

    def take(self, partner: str, event: Any) -> bool:
        if isinstance(event, PositionReported):
            self.fixes.append(_Fix(partner, event))
            return True
        if isinstance(event, VehicleAssigned):
            self.assignments.append((partner, event))
            return True
        return False

    def __bool__(self) -> bool:
        return bool(self.fixes or self.assignments)

    def rules(self, partner: str) -> PositionsConfig:
        found = self.settings.partners.get(partner)
        return found.positions if found is not None else PositionsConfig()

    def decide(self, conn: Connection, now: datetime) -> PositionDecision:
        decision = PositionDecision()
        if self.assignments:
            decision._writes.append(self._assignment_writes(now))
        if not self.fixes:
            return decision
        resolved = self._resolve(conn, decision)
        states = _load(conn, {position.shipment_key for _, position in resolved})
        view = _SqlTrackView(conn)
        view.preload(late_spans((position for _, position in resolved), states))
        outvoted = f"refused:{Reason.OUTVOTED.value}"
        for partner, position in resolved:
            state = states[position.shipment_key]
            before = state.counts[outvoted]
            verdict = fold(state, position, self.rules(partner), now, view, partner)
            decision.outcomes[(partner, verdict.outcome.value)] += 1
            if verdict.reason is not None:
                decision.refusals[(partner, verdict.reason.value)] += 1
            if state.counts[outvoted] > before:  # this fix showed the latest was wrong
                decision.refusals[(partner, Reason.OUTVOTED.value)] += 1
        decision._writes.append(_state_writes(self.store, list(states.values()), now))
        return decision

    # -- vehicles -----------------------------------------------------------------------
    def _assignment_writes(self, now: datetime) -> Callable[[Connection], bool]:
        rows = {
            (event.data.vehicle_id, iso(event.data.assigned_at)): {
                "vehicle_id": event.data.vehicle_id,
                "assigned_at": iso(event.data.assigned_at),
                "shipment_key": event.subject,
                "until": iso(event.data.until) if event.data.until is not None else None,
                "partner": partner,
                "recorded_at": iso(now),
            }
            for partner, event in self.assignments
        }
        statement = _upsert(self.store, vehicle_assignments, ["vehicle_id", "assigned_at"])

        def write(conn: Connection) -> bool:
            self.store.execute_many(conn, statement, list(rows.values()))
            return True

        return write

    def _resolve(self, conn: Connection, decision: PositionDecision) -> list[tuple[str, Position]]:
        """Each fix as a Position of its shipment; a vehicle's fix under the shipment the
        vehicle carries at its time, or refused as `unassigned`."""
        wanted: dict[str, list[datetime]] = {}
        for fix in self.fixes:
            subject = fix.event.subject
            if subject.startswith(VEHICLE_SUBJECT):
                wanted.setdefault(subject[len(VEHICLE_SUBJECT) :], []).append(
                    fix.event.data.recorded_at
                )
        plans = _assignments(conn, wanted) if wanted else {}
        for _, event in self.assignments:  # after the stored ones: a correction wins ties
            assignment = event.data
            plans.setdefault(assignment.vehicle_id, []).append(
                (assignment.assigned_at, assignment.until, event.subject)
            )
        for plan in plans.values():
            plan.sort(key=lambda a: a[0])
        resolved: list[tuple[str, Position]] = []
        for fix in self.fixes:
            data, subject = fix.event.data, fix.event.subject
            if subject.startswith(VEHICLE_SUBJECT):
                key = carried(plans.get(subject[len(VEHICLE_SUBJECT) :], []), data.recorded_at)
                if key is None:
                    decision.outcomes[(fix.partner, Outcome.REFUSED.value)] += 1
                    decision.refusals[(fix.partner, Reason.UNASSIGNED.value)] += 1
                    continue
                subject = key
            resolved.append(
                (
                    fix.partner,
                    Position(
                        shipment_key=subject,
                        latitude=data.latitude,
                        longitude=data.longitude,
                        recorded_at=data.recorded_at,
                        speed_kmh=data.speed_kmh,
                        heading=data.heading,
                        accuracy_m=data.accuracy_m,
                        vehicle_id=data.vehicle_id,
                    ),
                )
            )
        return resolved


Assignment = tuple[datetime, datetime | None, str]
"""(assigned_at, until, shipment key) of one vehicle."""


def carried(plan: Sequence[Assignment], at: datetime) -> str | None:
    """The shipment a vehicle carries at `at`: its newest assignment at or before `at`,
    unless that one ended first. `plan` is sorted by `assigned_at`."""
    found: Assignment | None = None
    for assignment in plan:
        if assignment[0] > at:
            break
        found = assignment
    if found is None or (found[1] is not None and at >= found[1]):
        return None
    return found[2]


def _assignments(
    conn: Connection, wanted: dict[str, list[datetime]]
) -> dict[str, list[Assignment]]:
    """The assignments of these vehicles that can hold at the fixes' times: those made
    between the earliest and the latest fix, and for each vehicle the last one before."""
    plans: dict[str, list[Assignment]] = {}
    vehicles = sorted(wanted)
    earliest = iso(min(t for times in wanted.values() for t in times))
    latest = iso(max(t for times in wanted.values() for t in times))
    older = vehicle_assignments.alias("older")
    last_before = (
        select(func.max(older.c.assigned_at))
        .where(older.c.vehicle_id == vehicle_assignments.c.vehicle_id)
        .where(older.c.assigned_at < earliest)
        .scalar_subquery()
    )
    query = select(
        vehicle_assignments.c.vehicle_id,
        vehicle_assignments.c.assigned_at,
        vehicle_assignments.c.until,
        vehicle_assignments.c.shipment_key,
    ).where(
        or_(
            and_(
                vehicle_assignments.c.assigned_at >= earliest,
                vehicle_assignments.c.assigned_at <= latest,
            ),
            vehicle_assignments.c.assigned_at == last_before,
        )
    )
    for row in rows_in(conn, query, vehicle_assignments.c.vehicle_id, vehicles, _CHUNK):
        plans.setdefault(row.vehicle_id, []).append(
            (
                datetime.fromisoformat(row.assigned_at),
                datetime.fromisoformat(row.until) if row.until is not None else None,
                row.shipment_key,
            )
        )
    return plans


# -- rows ---------------------------------------------------------------------------------


def _position_json(position: Position) -> dict[str, Any]:
    return {
        "recorded_at": iso(position.recorded_at),
        "latitude": position.latitude,
        "longitude": position.longitude,
        "speed_kmh": position.speed_kmh,
        "heading": position.heading,
        "accuracy_m": position.accuracy_m,
        "vehicle_id": position.vehicle_id,
    }


def _position_of(key: str, value: dict[str, Any] | None) -> Position | None:
    if value is None:
        return None
    return Position(
        shipment_key=key,
        latitude=value["latitude"],
        longitude=value["longitude"],
        recorded_at=datetime.fromisoformat(value["recorded_at"]),
        speed_kmh=value.get("speed_kmh"),
        heading=value.get("heading"),
        accuracy_m=value.get("accuracy_m"),
        vehicle_id=value.get("vehicle_id"),
    )


def _latest_of(row: Any) -> Position | None:
    if row.recorded_at is None:
        return None
    return Position(
        shipment_key=row.shipment_key,
        latitude=row.latitude,
        longitude=row.longitude,
        recorded_at=datetime.fromisoformat(row.recorded_at),
        speed_kmh=row.speed_kmh,
        heading=row.heading,
        accuracy_m=row.accuracy_m,
        vehicle_id=row.vehicle_id,
    )


def _counts_json(counts: Counter[str]) -> dict[str, Any]:
    """The counts as stored and shown: `refused` holds the reasons."""
    shown: dict[str, Any] = {}
    refused: dict[str, int] = {}
    for name, value in sorted(counts.items()):
        if not value:
            continue
        if name.startswith("refused:"):
            refused[name.removeprefix("refused:")] = value
        else:
            shown[name] = value
    if refused:
        shown["refused_by_reason"] = refused
    return shown


def _counts_of(text: str) -> Counter[str]:
    stored = orjson.loads(text)
    counts: Counter[str] = Counter()
    for name, value in stored.items():
        if name == "refused_by_reason":
            for reason, n in value.items():
                counts[f"refused:{reason}"] = n
        else:
            counts[name] = value
    return counts


def _load(conn: Connection, keys: set[str]) -> dict[str, ShipmentPositions]:
    states = {key: ShipmentPositions(key) for key in keys}
    for row in rows_in(
        conn, select(positions_latest), positions_latest.c.shipment_key, sorted(keys), _CHUNK
    ):
        state = states[row.shipment_key]
        state.latest = _latest_of(row)
        state.suspect = _position_of(row.shipment_key, _loads(row.suspect))
        state.tail = _position_of(row.shipment_key, _loads(row.tail))
        state.track_points = row.track_points
        state.counts = _counts_of(row.counts)
        state.last_rejection = _loads(row.last_rejection)
        state.partner = row.partner
        state.version = row.version
    return states


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


_T = positions_track.c
_IN_RANGE = (
    select(positions_track)
    .where(
        _T.shipment_key == bindparam("key"),
        _T.recorded_at >= bindparam("lo"),
        _T.recorded_at <= bindparam("hi"),
    )
    .order_by(_T.recorded_at)
)
_LAST_BEFORE = (
    select(positions_track)
    .where(_T.shipment_key == bindparam("key"), _T.recorded_at < bindparam("lo"))
    .order_by(_T.recorded_at.desc())
    .limit(1)
)
_FIRST_AFTER = (
    select(positions_track)
    .where(_T.shipment_key == bindparam("key"), _T.recorded_at > bindparam("hi"))
    .order_by(_T.recorded_at)
    .limit(1)
)


@dataclass
class _Window:
    """A run of one shipment's stored track points with nothing missing between them;
    `open_before`/`open_after`: no stored point lies beyond its first/last one."""

    points: list[Position]
    open_before: bool
    open_after: bool

    def covers(self, at: datetime) -> bool:
        first = self.points[0].recorded_at if self.points else None
        last = self.points[-1].recorded_at if self.points else None
        return (self.open_before or (first is not None and at >= first)) and (
            self.open_after or (last is not None and at < last)
        )


class _SqlTrackView:
    """The stored track, read through the deciding transaction's connection.

    The late fixes of a batch are known before it is folded, so each shipment's points
    around them are read once (`preload`: three indexed queries) and every look-up is
    answered from memory; a look-up outside what was read (an outvoted latest position)
    asks the store."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.windows: dict[str, _Window] = {}

    def preload(self, spans: dict[str, tuple[datetime, datetime]]) -> None:
        for key, (lo, hi) in spans.items():
            bounds = {"key": key, "lo": iso(lo), "hi": iso(hi)}
            before = self.conn.execute(_LAST_BEFORE, bounds).first()
            inside = self.conn.execute(_IN_RANGE, bounds).all()
            after = self.conn.execute(_FIRST_AFTER, bounds).first()
            rows = [*([before] if before is not None else []), *inside]
            rows += [after] if after is not None else []
            points = [p for p in (_track_point(r) for r in rows) if p is not None]
            self.windows[key] = _Window(points, before is None, after is None)

    def neighbours(
        self, key: str, at: datetime, excluding: frozenset[datetime]
    ) -> tuple[Position | None, Position | None]:
        window = self.windows.get(key)
        if window is not None and window.covers(at):
            found = _from_window(window, at, excluding)
            if found is not None:
                return found
        return self._query(key, at, excluding)

    def _query(
        self, key: str, at: datetime, excluding: frozenset[datetime]
    ) -> tuple[Position | None, Position | None]:
        skip = [_T.recorded_at.not_in([iso(x) for x in excluding])] if excluding else []
        when = iso(at)
        before = self.conn.execute(
            select(positions_track)
            .where(_T.shipment_key == key, _T.recorded_at <= when, *skip)
            .order_by(_T.recorded_at.desc())
            .limit(1)
        ).first()
        after = self.conn.execute(
            select(positions_track)
            .where(_T.shipment_key == key, _T.recorded_at > when, *skip)
            .order_by(_T.recorded_at)
            .limit(1)
        ).first()
        return _track_point(before), _track_point(after)


def _from_window(
    window: _Window, at: datetime, excluding: frozenset[datetime]
) -> tuple[Position | None, Position | None] | None:
    """The neighbours of `at` in a window; None when an excluded point leaves the answer
    beyond what the window holds."""
    times = [p.recorded_at for p in window.points]
    split = bisect.bisect_right(times, at)
    before = next(
        (p for p in reversed(window.points[:split]) if p.recorded_at not in excluding), None
    )
    after = next((p for p in window.points[split:] if p.recorded_at not in excluding), None)
    if before is None and not window.open_before and split > 0:
        return None
    if after is None and not window.open_after:
        return None
    return before, after


def late_spans(
    fixes: Iterable[Position], states: dict[str, ShipmentPositions]
) -> dict[str, tuple[datetime, datetime]]:
    """For each shipment, the span of its fixes that may arrive after a newer one (older
    than its latest position or than a fix before them in the batch): the fixes the fold
    will look up the track for."""
    newest = {key: s.latest.recorded_at for key, s in states.items() if s.latest is not None}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for fix in fixes:
        key, at = fix.shipment_key, fix.recorded_at
        seen = newest.get(key)
        if seen is None or at > seen:
            newest[key] = at
            continue
        lo, hi = spans.get(key, (at, at))
        spans[key] = (min(lo, at), max(hi, at))
    return spans


def _track_point(row: Any) -> Position | None:
    if row is None:
        return None
    return Position(
        shipment_key=row.shipment_key,
        latitude=row.latitude,
        longitude=row.longitude,
        recorded_at=datetime.fromisoformat(row.recorded_at),
        speed_kmh=row.speed_kmh,
        heading=row.heading,
        accuracy_m=row.accuracy_m,
    )


_LATEST_COLUMNS = (
    "recorded_at",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
    "vehicle_id",
    "partner",
    "suspect",
    "tail",
    "track_points",
    "counts",
    "last_rejection",
    "version",
    "updated_at",
)
_UPDATE_LATEST = (
    update(positions_latest)
    .where(
        positions_latest.c.shipment_key == bindparam("b_key"),
        positions_latest.c.version == bindparam("b_version"),
    )
    .values({name: bindparam(name) for name in _LATEST_COLUMNS})
)
_INSERT_TRACK_COLUMNS = (
    "shipment_key",
    "recorded_at",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
)
_DELETE_TRACK = delete(positions_track).where(
    positions_track.c.shipment_key == bindparam("b_key"),
    positions_track.c.recorded_at == bindparam("b_at"),
)


def _latest_values(state: ShipmentPositions, now: datetime) -> dict[str, Any]:
    latest = state.latest
    return {
        "recorded_at": iso(latest.recorded_at) if latest else None,
        "latitude": latest.latitude if latest else None,
        "longitude": latest.longitude if latest else None,
        "speed_kmh": latest.speed_kmh if latest else None,
        "heading": latest.heading if latest else None,
        "accuracy_m": latest.accuracy_m if latest else None,
        "vehicle_id": latest.vehicle_id if latest else None,
        "partner": state.partner if latest else None,
        "suspect": _dumps(_position_json(state.suspect) if state.suspect else None),
        "tail": _dumps(_position_json(state.tail) if state.tail else None),
        "track_points": state.track_points,
        "counts": orjson.dumps(_counts_json(state.counts)).decode(),
        "last_rejection": _dumps(state.last_rejection),
        "version": (state.version or 0) + 1,
        "updated_at": iso(now),
    }


def _track_row(point: Position) -> dict[str, Any]:
    return {
        "shipment_key": point.shipment_key,
        "recorded_at": iso(point.recorded_at),
        "latitude": point.latitude,
        "longitude": point.longitude,
        "speed_kmh": point.speed_kmh,
        "heading": point.heading,
        "accuracy_m": point.accuracy_m,
    }


def _state_writes(
    store: Store, states: list[ShipmentPositions], now: datetime
) -> Callable[[Connection], bool]:
    """The rows a batch's folded shipments write, guarded by their versions."""
    inserts = [
        {"shipment_key": s.key, **_latest_values(s, now)} for s in states if s.version is None
    ]
    updates = [
        {"b_key": s.key, "b_version": s.version, **_latest_values(s, now)}
        for s in states
        if s.version is not None
    ]
    track = [_track_row(p) for s in states for p in s.inserted.values()]
    dropped = [{"b_key": s.key, "b_at": iso(t)} for s in states for t in s.deleted]
    insert_latest = store.insert_ignoring(positions_latest, ["shipment_key"])
    insert_track = store.insert_ignoring(positions_track, ["shipment_key", "recorded_at"])

    def write(conn: Connection) -> bool:
        if _count_many(store, conn, insert_latest, inserts) != len(inserts):
            return False
        if _count_many(store, conn, _UPDATE_LATEST, updates) != len(updates):
            return False
        if dropped:
            conn.execute(_DELETE_TRACK, dropped)
        store.execute_many(conn, insert_track, track)
        return True

    return write


def _count_many(
    store: Store, conn: Connection, statement: UpdateBase, rows: Sequence[dict[str, Any]]
) -> int:
    """Run `statement` for every row; how many rows it wrote.

    SQLite: the driver's executemany, whose `rowcount` sums the rows (an ignored insert
    counts 0). PostgreSQL: SQLAlchemy's, whose rowcount sums the updates; an insert of
    several rows is counted by RETURNING (its batched VALUES report no count)."""
    if not rows:
        return 0
    if store.is_sqlite:
        keys = tuple(rows[0])
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(str(compiled), driver_tuples(rows, order))
            return int(cursor.rowcount)
        finally:
            cursor.close()
    if isinstance(statement, Insert):
        returning = statement.returning(positions_latest.c.shipment_key)
        return len(conn.execute(returning, list(rows)).all())
    return int(conn.execute(statement, list(rows)).rowcount)


def _upsert(store: Store, table: Any, keys: list[str]) -> Insert:
    """INSERT that replaces the row a key already names (a corrected assignment)."""
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    statement = dialect.insert(table)
    others = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    upsert: Insert = statement.on_conflict_do_update(index_elements=keys, set_=others)
    return upsert


# -- reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionSummary:
    """A shipment's latest position and what the hub made of its fixes."""

    shipment_key: str
    latest: Position | None
    partner: str | None
    """Who reported the latest position."""
    track_points: int
    counts: dict[str, Any]
    """fixes, latest, tracked, thinned, duplicate, refused, and `refused_by_reason`."""
    last_rejection: dict[str, Any] | None
    updated_at: str


def latest(conn: Connection, key: str) -> Position | None:
    """The shipment's latest position (the newest fix the hub accepted), or None."""
    row = conn.execute(
        select(positions_latest).where(positions_latest.c.shipment_key == key)
    ).first()
    return None if row is None else _latest_of(row)


def latest_many(conn: Connection, keys: Iterable[str]) -> list[Position]:
    """The latest position of each of `keys` that has one (the tower's map, many at once)."""
    p = positions_latest.c
    query = select(positions_latest).where(p.recorded_at.is_not(None))
    rows = rows_in(conn, query, p.shipment_key, list(keys))
    return [position for row in rows if (position := _latest_of(row)) is not None]


def summary(conn: Connection, key: str) -> PositionSummary | None:
    """The latest position with the counts; None when no fix ever named the shipment."""
    row = conn.execute(
        select(positions_latest).where(positions_latest.c.shipment_key == key)
    ).first()
    if row is None:
        return None
    return PositionSummary(
        shipment_key=row.shipment_key,
        latest=_latest_of(row),
        partner=row.partner,
        track_points=row.track_points,
        counts=orjson.loads(row.counts),
        last_rejection=_loads(row.last_rejection),
        updated_at=row.updated_at,
    )


def track(
    conn: Connection, key: str, since: datetime | None = None, limit: int = TRACK_LIMIT
) -> list[Position]:
    """The shipment's thinned track, oldest first: the first `limit` points from `since`
    (included) on; see the module docstring for what a point is."""
    t = positions_track.c
    query = select(positions_track).where(t.shipment_key == key)
    if since is not None:
        query = query.where(t.recorded_at >= iso(since))
    rows = conn.execute(query.order_by(t.recorded_at).limit(max(0, limit))).all()
    return [p for p in (_track_point(r) for r in rows) if p is not None]


def active_positions(
    conn: Connection,
    after: str | None = None,
    limit: int = ACTIVE_LIMIT,
    since: datetime | None = None,
) -> list[Position]:
    """The latest position of each shipment still on the road (not delivered, cancelled
    or returned; a shipment the hub has no state for counts as on the road), by key:
    at most `limit`, keys after `after`, fixes recorded at or after `since`."""
    p = positions_latest.c
    query = (
        select(positions_latest)
        .select_from(positions_latest.outerjoin(shipments, shipments.c.key == p.shipment_key))
        .where(
            p.recorded_at.is_not(None),
            or_(shipments.c.state.is_(None), shipments.c.state.not_in(FINAL_STATES)),
        )
    )
    if after is not None:
        query = query.where(p.shipment_key > after)
    if since is not None:
        query = query.where(p.recorded_at >= iso(since))
    rows = conn.execute(query.order_by(p.shipment_key).limit(max(0, min(limit, ACTIVE_LIMIT))))
    return [position for row in rows if (position := _latest_of(row)) is not None]


def reporters(conn: Connection, keys: Iterable[str]) -> dict[str, str | None]:
    """Who reported each shipment's latest position (for read boundaries)."""
    p = positions_latest.c
    query = select(p.shipment_key, p.partner)
    return {r.shipment_key: r.partner for r in rows_in(conn, query, p.shipment_key, list(keys))}


__all__ = [
    "ACTIVE_LIMIT",
    "TRACK_LIMIT",
    "Outcome",
    "Position",
    "PositionDecision",
    "PositionIntake",
    "PositionSummary",
    "Reason",
    "ShipmentPositions",
    "TrackView",
    "Verdict",
    "active_positions",
    "carried",
    "far_apart",
    "fold",
    "implied_speed_kmh",
    "latest",
    "plausible",
    "refusal",
    "reporters",
    "summary",
    "track",
]
