"""Per-shipment state: the fold never regresses, ignores order and duplicates, obeys owners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.canonical.model import MilestoneType as M
from intermodal.engine.apply import (
    EventOutcome,
    Mark,
    OwnershipPolicy,
    ShipmentState,
    apply_milestone,
    decide,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def mark(milestone: M, minutes: int, event_id: str | None = None) -> Mark:
    return Mark(milestone, T0 + timedelta(minutes=minutes), event_id or f"{milestone}-{minutes}")


def fold(marks: list[Mark]) -> ShipmentState:
    state = ShipmentState()
    for m in marks:
        state, _ = apply_milestone(state, m)
    return state


def test_main_chain_advances() -> None:
    state = fold([mark(M.BOOKED, 0), mark(M.PICKED_UP, 10), mark(M.IN_TRANSIT, 20)])
    assert state.current is not None and state.current.milestone is M.IN_TRANSIT


def test_delivered_never_goes_back_to_in_transit() -> None:
    state = fold([mark(M.DELIVERED, 50)])
    state2, outcome = apply_milestone(state, mark(M.IN_TRANSIT, 60))
    assert outcome is EventOutcome.LATE
    assert state2.current is not None and state2.current.milestone is M.DELIVERED


def test_failed_attempt_shows_until_the_next_attempt() -> None:
    state = fold([mark(M.OUT_FOR_DELIVERY, 10), mark(M.DELIVERY_FAILED, 20)])
    assert state.current is not None and state.current.milestone is M.DELIVERY_FAILED
    state, outcome = apply_milestone(state, mark(M.OUT_FOR_DELIVERY, 60 * 24))
    assert outcome is EventOutcome.APPLIED
    assert state.current is not None and state.current.milestone is M.OUT_FOR_DELIVERY


def test_side_state_older_than_the_main_chain_is_late() -> None:
    state = fold([mark(M.IN_TRANSIT, 30)])
    _, outcome = apply_milestone(state, mark(M.EXCEPTION, 5))
    assert outcome is EventOutcome.LATE


def test_terminal_state_wins() -> None:
    state = fold([mark(M.IN_TRANSIT, 30), mark(M.CANCELLED, 40), mark(M.OUT_FOR_DELIVERY, 50)])
    assert state.current is not None and state.current.milestone is M.CANCELLED


def test_only_the_owner_may_assert_its_milestones() -> None:
    policy = OwnershipPolicy({M.DELIVERED: frozenset({"acme-carrier"})})
    state, outcome = decide(ShipmentState(), mark(M.DELIVERED, 1), "wms", policy)
    assert outcome is EventOutcome.VIOLATION and state.current is None
    state, outcome = decide(ShipmentState(), mark(M.DELIVERED, 1), "acme-carrier", policy)
    assert outcome is EventOutcome.APPLIED
    # Unowned milestones are open to every authenticated partner.
    assert decide(ShipmentState(), mark(M.BOOKED, 1), "wms", policy)[1] is EventOutcome.APPLIED


marks = st.builds(
    mark,
    st.sampled_from(list(M)),
    st.integers(min_value=0, max_value=500),
    st.text(alphabet="abc123", min_size=1, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(marks, min_size=1, max_size=25), st.data())
def test_any_permutation_with_duplicates_ends_in_the_same_state(
    ms: list[Mark], data: st.DataObject
) -> None:
    duplicated = ms + data.draw(st.lists(st.sampled_from(ms), max_size=10))
    shuffled = data.draw(st.permutations(duplicated))
    assert fold(shuffled).current == fold(sorted(ms, key=lambda m: (m.at, m.event_id))).current


@settings(max_examples=300, deadline=None)
@given(st.lists(marks, min_size=1, max_size=25))
def test_main_chain_progress_never_decreases(ms: list[Mark]) -> None:
    rank = {
        m: i
        for i, m in enumerate(
            [M.BOOKED, M.DISPATCHED, M.PICKED_UP, M.IN_TRANSIT, M.OUT_FOR_DELIVERY, M.DELIVERED]
        )
    }
    state, best = ShipmentState(), -1
    for m in ms:
        state, _ = apply_milestone(state, m)
        now = rank[state.main.milestone] if state.main else -1
        assert now >= best
        best = now
