"""The position rules as properties: fixes folded in any order, with any duplicates.

The fold (foresight/positions.py) is pure but for the stored track it is handed; here
the track lives in memory (`MemoryTrack`, the same neighbour semantics as the SQL view),
and batches end where hypothesis says, so the in-batch overlay and the stored track are
both exercised. Trajectories are drawn as a truck would drive them (at most 130 km/h,
fixes 5 s to 15 min apart), so any two fixes of one are plausible to each other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.config import PositionsConfig
from intermodal.foresight.geo import Point, Position, haversine_km
from intermodal.foresight.positions import (
    Outcome,
    Reason,
    ShipmentPositions,
    carried,
    far_apart,
    fold,
    implied_speed_kmh,
    plausible,
)

KEY = "SHP-1"
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = BASE + timedelta(days=30)
RULES = PositionsConfig()


class MemoryTrack:
    """A shipment's stored track and latest row, as the store would hold them."""

    def __init__(self) -> None:
        self.points: dict[datetime, Position] = {}

    def neighbours(
        self, key: str, at: datetime, excluding: frozenset[datetime]
    ) -> tuple[Position | None, Position | None]:
        kept = [t for t in self.points if t not in excluding]
        before = max((t for t in kept if t <= at), default=None)
        after = min((t for t in kept if t > at), default=None)
        return (
            self.points[before] if before is not None else None,
            self.points[after] if after is not None else None,
        )

    def commit(self, state: ShipmentPositions) -> ShipmentPositions:
        """Write the batch's changes and start the next batch from the stored row."""
        for t in state.deleted:
            self.points.pop(t, None)
        self.points.update(state.inserted)
        return ShipmentPositions(
            KEY,
            latest=state.latest,
            suspect=state.suspect,
            tail=state.tail,
            track_points=state.track_points,
            counts=state.counts.copy(),
            last_rejection=state.last_rejection,
            partner=state.partner,
            version=(state.version or 0) + 1,
        )

    def ordered(self) -> list[Position]:
        return [self.points[t] for t in sorted(self.points)]


def play(
    fixes: Iterable[Position], cuts: Iterable[bool] = (), rules: PositionsConfig = RULES
) -> tuple[ShipmentPositions, MemoryTrack, list[tuple[Position, Outcome, Reason | None]]]:
    """Fold `fixes` in order; a batch ends after fix i when cuts[i] is true."""
    track = MemoryTrack()
    state = ShipmentPositions(KEY)
    verdicts = []
    cut = list(cuts)
    for i, fix in enumerate(fixes):
        verdict = fold(state, fix, rules, NOW, track, "telematics")
        verdicts.append((fix, verdict.outcome, verdict.reason))
        if i < len(cut) and cut[i]:
            state = track.commit(state)
    state = track.commit(state)
    return state, track, verdicts


def moved(point: Point, km: float, heading: float) -> Point:
    """The point `km` away along `heading` (degrees): fine for the few km of one step."""
    dlat = km * math.cos(math.radians(heading)) / 111.195
    dlon = km * math.sin(math.radians(heading)) / (111.195 * math.cos(math.radians(point.latitude)))
    return Point(point.latitude + dlat, ((point.longitude + dlon + 180) % 360) - 180)


@st.composite
def trajectories(draw: st.DrawFn, min_size: int = 2, max_size: int = 30) -> list[Position]:
    """A truck's fixes in time order: each step 5 s to 15 min, at 0 to 130 km/h."""
    # away from (0, 0), which a device with no fix reports (refused as no_fix)
    here = Point(draw(st.floats(-60, 60).filter(lambda v: abs(v) > 1)), draw(st.floats(-170, 170)))
    at = BASE
    steps = draw(st.integers(min_size, max_size))
    heading = draw(st.floats(0, 359))
    fixes = []
    for _ in range(steps):
        accuracy = draw(st.one_of(st.none(), st.floats(2, 30)))
        latitude, longitude = round(here.latitude, 6), round(here.longitude, 6)
        fixes.append(Position(KEY, latitude, longitude, at, accuracy_m=accuracy))
        seconds = draw(st.integers(5, 900))
        kmh = draw(st.sampled_from([0.0, 0.0, 15.0, 60.0, 90.0, 130.0]))
        heading = (heading + draw(st.floats(-30, 30))) % 360
        here = moved(here, kmh * seconds / 3600, heading)
        at += timedelta(seconds=seconds)
    return fixes


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Position], list[Position], list[bool]]:
    """A trajectory, then the same fixes shuffled with some sent twice, and batch ends."""
    fixes = draw(trajectories())
    repeats = draw(st.lists(st.sampled_from(fixes), max_size=len(fixes)))
    sent = draw(st.permutations(fixes + repeats))
    cuts = draw(st.lists(st.booleans(), min_size=len(sent), max_size=len(sent)))
    return fixes, sent, cuts


def close(a: Position, b: Position) -> bool:
    return not far_apart(a, b, RULES)


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(deliveries())
def test_the_latest_position_never_goes_back_in_time(
    case: tuple[list[Position], list[Position], list[bool]],
) -> None:
    _, sent, _ = case
    track = MemoryTrack()
    state = ShipmentPositions(KEY)
    newest: datetime | None = None
    for fix in sent:
        fold(state, fix, RULES, NOW, track)
        assert state.latest is not None
        if newest is not None:
            assert state.latest.recorded_at >= newest
        newest = state.latest.recorded_at


@settings(max_examples=60, deadline=None)
@given(deliveries(), st.randoms(use_true_random=False))
def test_any_order_of_the_same_fixes_gives_the_same_latest_position(
    case: tuple[list[Position], list[Position], list[bool]], rng: object
) -> None:
    fixes, sent, cuts = case
    state, _, verdicts = play(sent, cuts)
    in_order, _, _ = play(fixes)
    assert state.latest == in_order.latest == max(fixes, key=lambda p: p.recorded_at)
    assert not [v for v in verdicts if v[1] is Outcome.REFUSED]  # plausible trajectories
    assert state.counts["fixes"] == len(sent)


@settings(max_examples=60, deadline=None)
@given(deliveries())
def test_thinning_keeps_adjacent_points_apart_and_every_fix_near_a_point(
    case: tuple[list[Position], list[Position], list[bool]],
) -> None:
    fixes, sent, cuts = case
    state, track, _ = play(sent, cuts)
    points = track.ordered()
    assert points, "the first fix always starts the track"
    assert state.track_points == len(points)
    assert state.tail == points[-1]
    assert set(points) <= set(fixes)
    for a, b in itertools.pairwise(points):
        assert far_apart(a, b, RULES), (a, b)
    for fix in fixes:
        assert any(close(point, fix) for point in points), fix


@settings(max_examples=50, deadline=None)
@given(trajectories(min_size=2, max_size=40))
def test_in_order_thinning_is_the_classic_one(fixes: list[Position]) -> None:
    """Fixes in time order: a point whenever the interval or the distance since the last
    point is reached, so the track starts at the first fix and no far fix is skipped."""
    _, track, _ = play(fixes)
    expected = [fixes[0]]
    for fix in fixes[1:]:
        if far_apart(expected[-1], fix, RULES):
            expected.append(fix)
    assert track.ordered() == expected


@settings(max_examples=50, deadline=None)
@given(deliveries())
def test_the_same_fixes_again_change_nothing(
    case: tuple[list[Position], list[Position], list[bool]],
) -> None:
    _, sent, cuts = case
    state, track, _ = play(sent, cuts)
    before = (state.latest, state.tail, state.track_points, track.ordered())
    again = ShipmentPositions(KEY, state.latest, state.suspect, state.tail, state.track_points)
    verdicts = [fold(again, fix, RULES, NOW, track).outcome for fix in sent]
    track.commit(again)
    assert (again.latest, again.tail, again.track_points, track.ordered()) == before
    assert set(verdicts) <= {Outcome.DUPLICATE, Outcome.THINNED}


@settings(max_examples=50, deadline=None)
@given(
    trajectories(min_size=3, max_size=20),
    st.data(),
    st.floats(300, 3000),
    st.floats(0, 359),
)
def test_a_jump_in_an_ordered_stream_is_refused_with_its_reason(
    fixes: list[Position], data: st.DataObject, km: float, heading: float
) -> None:
    where = data.draw(st.integers(1, len(fixes) - 1))
    real = fixes[where]
    jump = moved(real.point, km, heading)
    outlier = Position(
        KEY,
        jump.latitude,
        jump.longitude,
        real.recorded_at + timedelta(milliseconds=1),  # between two fixes
        accuracy_m=5.0,
    )
    sent = [*fixes[: where + 1], outlier, *fixes[where + 1 :]]
    state, track, verdicts = play(sent)
    assert (outlier, Outcome.REFUSED, Reason.IMPLIED_SPEED) in verdicts
    assert outlier not in track.ordered()
    assert state.latest == fixes[-1]
    assert state.counts["refused:implied_speed"] == 1
    assert state.last_rejection is not None
    assert state.last_rejection["reason"] == "implied_speed"
    assert "km/h" in state.last_rejection["detail"]


@settings(max_examples=50, deadline=None)
@given(trajectories(min_size=4, max_size=20), st.floats(300, 3000), st.data())
def test_two_agreeing_fixes_outvote_a_wrong_first_fix(
    fixes: list[Position], km: float, data: st.DataObject
) -> None:
    """The outlier arrives first: it is the latest position until two later fixes agree
    with each other against it; then it is refused as outvoted and leaves the track. The
    latest position never goes back in time on the way."""
    first = fixes[0]
    jump = moved(first.point, km, 90.0)
    outlier = Position(KEY, jump.latitude, jump.longitude, first.recorded_at, accuracy_m=5.0)
    rest = fixes[1:]
    cuts = data.draw(st.lists(st.booleans(), min_size=len(rest) + 1, max_size=len(rest) + 1))
    state, track, verdicts = play([outlier, *rest], cuts)
    assert verdicts[0][1] is Outcome.LATEST
    assert verdicts[1][2] is Reason.IMPLIED_SPEED  # judged against the outlier
    assert state.latest == rest[-1]
    assert outlier not in track.ordered()
    assert state.counts["refused:outvoted"] == 1
    points = track.ordered()
    for a, b in itertools.pairwise(points):
        assert far_apart(a, b, RULES)


@settings(max_examples=50, deadline=None)
@given(deliveries(), st.floats(300, 3000))
def test_a_jump_never_stays_the_latest_once_two_newer_fixes_follow_it(
    case: tuple[list[Position], list[Position], list[bool]], km: float
) -> None:
    fixes, sent, cuts = case
    if len(fixes) < 3:
        return
    newest = max(fixes, key=lambda p: p.recorded_at)
    jump = moved(newest.point, km, 180.0)
    outlier = Position(
        KEY, jump.latitude, jump.longitude, fixes[0].recorded_at + timedelta(seconds=1)
    )
    later = [f for f in fixes if f.recorded_at > outlier.recorded_at]
    if len(later) < 2:
        return
    state, _, _ = play([*sent, outlier, *later], [*cuts, False, *[False] * len(later)])
    assert state.latest == newest


# -- refusals on their own ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fix", "reason"),
    [
        (Position(KEY, 0.0, 0.0, BASE), Reason.NO_FIX),
        (Position(KEY, 50.0, 4.0, BASE, accuracy_m=251.0), Reason.ACCURACY),
        (Position(KEY, 50.0, 4.0, NOW + timedelta(minutes=6)), Reason.FUTURE),
    ],
)
def test_a_fix_wrong_on_its_own_is_refused_with_its_reason(fix: Position, reason: Reason) -> None:
    state, track, verdicts = play([fix])
    assert verdicts == [(fix, Outcome.REFUSED, reason)]
    assert state.latest is None and not track.points
    assert state.counts[f"refused:{reason.value}"] == 1
    assert state.last_rejection is not None and state.last_rejection["reason"] == reason.value


def test_a_fix_just_inside_the_bounds_is_taken() -> None:
    fixes = [
        Position(KEY, 50.0, 4.0, BASE, accuracy_m=250.0),
        Position(KEY, 50.0, 4.001, NOW + timedelta(minutes=5)),
    ]
    _, _, verdicts = play(fixes)
    assert [v[1] for v in verdicts] == [Outcome.LATEST, Outcome.LATEST]


def test_a_late_fix_fills_a_gap_in_the_track_and_a_near_one_is_thinned() -> None:
    a = Position(KEY, 51.0, 4.0, BASE)
    c = Position(KEY, 51.0, 4.2, BASE + timedelta(minutes=20))  # ~14 km east
    b = Position(KEY, 51.0, 4.1, BASE + timedelta(minutes=10))  # the gap, late
    b_near = Position(KEY, 51.0, 4.1001, BASE + timedelta(minutes=10, seconds=30))
    state, track, verdicts = play([a, c, b, b_near], cuts=[True, True, True])
    assert [v[1] for v in verdicts] == [
        Outcome.LATEST,
        Outcome.LATEST,
        Outcome.TRACKED,
        Outcome.THINNED,
    ]
    assert track.ordered() == [a, b, c]
    assert state.latest == c


def test_a_late_fix_that_jumps_from_its_neighbours_is_refused() -> None:
    a = Position(KEY, 51.0, 4.0, BASE)
    c = Position(KEY, 51.0, 4.2, BASE + timedelta(minutes=20))
    wrong = Position(KEY, 48.0, 2.0, BASE + timedelta(minutes=10))
    _, track, verdicts = play([a, c, wrong])
    assert verdicts[-1][1:] == (Outcome.REFUSED, Reason.IMPLIED_SPEED)
    assert wrong not in track.ordered()


def test_two_fixes_of_one_instant_are_one_and_a_duplicate() -> None:
    a = Position(KEY, 51.0, 4.0, BASE)
    other = Position(KEY, 51.0001, 4.0, BASE)
    _, _, verdicts = play([a, other])
    assert [v[1] for v in verdicts] == [Outcome.LATEST, Outcome.DUPLICATE]


def test_implied_speed_forgives_jitter_but_not_a_jump() -> None:
    a = Position(KEY, 51.0, 4.0, BASE, accuracy_m=10.0)
    jitter = Position(KEY, 51.0003, 4.0, BASE + timedelta(seconds=1), accuracy_m=10.0)  # 33 m
    assert implied_speed_kmh(a, jitter, RULES.jump_slack_m) == 0.0
    assert plausible(a, jitter, RULES)
    jump = Position(KEY, 51.01, 4.0, BASE + timedelta(seconds=10))  # 1.1 km in 10 s
    assert implied_speed_kmh(a, jump, RULES.jump_slack_m) > 350
    assert not plausible(a, jump, RULES)
    same_instant = Position(KEY, 51.01, 4.0, BASE)
    assert implied_speed_kmh(a, same_instant, 0.0) == math.inf
    assert haversine_km(a.point, jump.point) == pytest.approx(1.112, abs=0.01)


def test_a_vehicle_carries_its_newest_assignment_until_it_ends() -> None:
    t = BASE
    plan = [
        (t, None, "SHP-A"),
        (t + timedelta(hours=5), t + timedelta(hours=8), "SHP-B"),
        (t + timedelta(hours=10), None, "SHP-C"),
    ]
    assert carried(plan, t - timedelta(seconds=1)) is None
    assert carried(plan, t) == "SHP-A"
    assert carried(plan, t + timedelta(hours=4, minutes=59)) == "SHP-A"
    assert carried(plan, t + timedelta(hours=5)) == "SHP-B"
    assert carried(plan, t + timedelta(hours=8)) is None  # B ended; C not yet
    assert carried(plan, t + timedelta(hours=11)) == "SHP-C"


def test_stricter_rules_of_a_partner_apply_to_its_fixes() -> None:
    rules = PositionsConfig(max_speed_kmh=80, track_interval=60, track_distance_km=0.5)
    a = Position(KEY, 51.0, 4.0, BASE)
    fast = Position(KEY, 51.0, 4.05, BASE + timedelta(minutes=2))  # ~3.5 km in 2 min
    _, _, verdicts = play([a, fast], rules=rules)
    assert verdicts[1][2] is Reason.IMPLIED_SPEED
