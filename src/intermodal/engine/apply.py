"""Per-shipment state: a pure fold of milestones that never regresses.

The state is kept as three parts, each the maximum of its events under a total order:

- `main`: the furthest main-chain milestone (booked ... delivered), then the newest;
- `side`: the newest side state (delivery_failed, exception, customs_hold/released),
  shown only while it is at least as new as `main`;
- `terminal`: the newest of returned / cancelled.

Taking a maximum is commutative, associative and idempotent, so any permutation of a
shipment's milestones, with any duplicates, ends in the same state: that is what lets
the hub apply events as they arrive, across restarts, without re-sorting history. An
event that does not move any part is *late*: it is kept in the timeline, flagged, and
does not touch the state ("delivered" never goes back to "in transit").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from intermodal.canonical.model import MAIN_CHAIN, TERMINAL_STATES, MilestoneType

_RANK = {milestone: rank for rank, milestone in enumerate(MAIN_CHAIN)}


@dataclass(frozen=True, slots=True)
class Mark:
    """One asserted milestone: what, when it happened, and the event id as tie-breaker."""

    milestone: MilestoneType
    at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class ShipmentState:
    main: Mark | None = None
    side: Mark | None = None
    terminal: Mark | None = None

    @property
    def current(self) -> Mark | None:
        """The milestone shown as the shipment's state.

        A terminal state wins; delivered is final otherwise; a side state shows while it
        is at least as new as the last main-chain milestone (a failed attempt at 14:00
        after out-for-delivery at 09:00 is what the customer needs to see).
        """
        if self.terminal is not None:
            return self.terminal
        if self.main is not None and self.main.milestone is MilestoneType.DELIVERED:
            return self.main
        if self.side is not None and (self.main is None or self.side.at >= self.main.at):
            return self.side
        return self.main


class EventOutcome(StrEnum):
    """What applying one event did (the `events.outcome` column)."""

    APPLIED = "applied"
    LATE = "late"
    DUPLICATE = "duplicate"
    VIOLATION = "violation"


def _main_key(mark: Mark) -> tuple[int, datetime, str]:
    return (_RANK[mark.milestone], mark.at, mark.event_id)


def _time_key(mark: Mark) -> tuple[datetime, str, str]:
    # The milestone completes the order: two marks must never tie, or arrival order decides.
    return (mark.at, mark.event_id, mark.milestone.value)


def apply_milestone(state: ShipmentState, mark: Mark) -> tuple[ShipmentState, EventOutcome]:
    """Fold one milestone into the state; LATE when it moves nothing."""
    if mark.milestone in _RANK:
        if state.main is None or _main_key(mark) > _main_key(state.main):
            return replace(state, main=mark), EventOutcome.APPLIED
        return state, EventOutcome.LATE
    if mark.milestone in TERMINAL_STATES:
        if state.terminal is None or _time_key(mark) > _time_key(state.terminal):
            return replace(state, terminal=mark), EventOutcome.APPLIED
        return state, EventOutcome.LATE
    # The side part is kept even when the main chain is newer (the main chain's time can
    # move back: dispatched at 09:00 outranks booked at 10:00), so the shown state stays a
    # function of the set of events; an event that is not shown is reported late.
    if state.side is not None and _time_key(mark) <= _time_key(state.side):
        return state, EventOutcome.LATE
    state = replace(state, side=mark)
    shown = state.current
    return state, EventOutcome.APPLIED if shown is not None and shown == mark else EventOutcome.LATE


@dataclass(frozen=True, slots=True)
class OwnershipPolicy:
    """Which partners are the system of record for which milestones.

    A milestone with no owners listed may be asserted by any authenticated partner; one
    with owners may be asserted only by them, and anyone else's assertion is a violation.
    """

    owners: dict[MilestoneType, frozenset[str]]

    def allows(self, milestone: MilestoneType, partner: str) -> bool:
        owners = self.owners.get(milestone)
        return owners is None or partner in owners

    @classmethod
    def open(cls) -> OwnershipPolicy:
        return cls(owners={})


def decide(
    state: ShipmentState, mark: Mark, partner: str, policy: OwnershipPolicy
) -> tuple[ShipmentState, EventOutcome]:
    """Ownership first (a violation is never applied), then the fold."""
    if not policy.allows(mark.milestone, partner):
        return state, EventOutcome.VIOLATION
    return apply_milestone(state, mark)
