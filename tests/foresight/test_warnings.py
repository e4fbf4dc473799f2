"""Early warning, decided without a database: when a predicted_delay opens, closes, or
stays as it is, and that an ETA hovering around the deadline does not make it flap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intermodal.config import EarlyWarningConfig
from intermodal.foresight.eta import Estimate, Eta, PlacedStop
from intermodal.foresight.geo import Point
from intermodal.foresight.warnings import case_row, deadline_of, decide

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(hours=10)
STOP = PlacedStop(2, "delivery", "US:dallas", Point(32.8, -96.8), "city", None, None)
Case = Literal["open", "closed", "none"]


def estimate(eta_minutes: float, low: float = 60, high: float = 120) -> Estimate:
    """An estimate whose delivery is `eta_minutes` after the deadline (negative: before),
    with p10 `low` minutes earlier and p90 `high` minutes later."""
    at = DEADLINE + timedelta(minutes=eta_minutes)
    eta = Eta(at, at - timedelta(minutes=low), at + timedelta(minutes=high))
    return Estimate("K", NOW, "model", 3, "model v3: held-out MAE 20.0 min", STOP, eta, eta,
                    420.0, 70.0, "recent", "telematics", NOW - timedelta(minutes=4))  # fmt: skip


CONFIG = EarlyWarningConfig(open_after=1, close_after=2, close_margin_minutes=15)


def test_a_warning_opens_only_when_the_early_end_of_the_interval_is_past_the_deadline() -> None:
    assert decide(estimate(90), DEADLINE, 0, "none", CONFIG, NOW).action == "open"
    assert decide(estimate(50), DEADLINE, 0, "none", CONFIG, NOW).action == "none"  # p10 before
    assert decide(estimate(-30), DEADLINE, 0, "none", CONFIG, NOW).action == "none"
    p50 = EarlyWarningConfig(confidence="p50")
    assert decide(estimate(50), DEADLINE, 0, "none", p50, NOW).action == "open"
    margin = EarlyWarningConfig(open_margin_minutes=60)
    assert decide(estimate(90), DEADLINE, 0, "none", margin, NOW).action == "none"
    assert decide(estimate(90), None, 0, "none", CONFIG, NOW).action == "none"  # no SLA


def test_opening_can_wait_for_refreshes_in_a_row() -> None:
    config = EarlyWarningConfig(open_after=3)
    first = decide(estimate(90), DEADLINE, 0, "none", config, NOW)
    second = decide(estimate(90), DEADLINE, first.streak, "none", config, NOW)
    reset = decide(estimate(0), DEADLINE, second.streak, "none", config, NOW)
    assert (first.action, first.streak, second.streak, reset.streak) == ("none", 1, 2, 0)
    third = decide(estimate(90), DEADLINE, second.streak, "none", config, NOW)
    assert third.action == "open"
    assert third.why.startswith("p10 arrival 2026-11-23T22:30:00")


def test_a_warning_closes_after_the_eta_recovered_for_refreshes_in_a_row() -> None:
    first = decide(estimate(-20), DEADLINE, 1, "open", CONFIG, NOW)
    assert (first.action, first.streak) == ("none", -1)
    second = decide(estimate(-20), DEADLINE, first.streak, "open", CONFIG, NOW)
    assert second.action == "close" and second.why.startswith("recovered: ETA")
    # Not back by the margin yet: stays open, and the count starts again.
    assert decide(estimate(-10), DEADLINE, -1, "open", CONFIG, NOW) == decide(
        estimate(-10), DEADLINE, 0, "open", CONFIG, NOW
    )


def test_a_case_a_person_closed_is_forgotten_only_once_the_prediction_recovered() -> None:
    assert decide(estimate(90), DEADLINE, 1, "closed", CONFIG, NOW).action == "none"
    assert decide(estimate(-20), DEADLINE, -1, "closed", CONFIG, NOW).action == "forget"


def test_a_deadline_that_passed_or_a_shipment_without_eta_closes_the_case() -> None:
    later = DEADLINE + timedelta(minutes=1)
    passed = decide(estimate(90), None, 2, "open", CONFIG, later, DEADLINE)
    assert passed.action == "close" and passed.why.startswith("the deadline passed")
    gone = decide(estimate(90), None, 2, "open", CONFIG, NOW, None)
    assert gone.why == "the shipment has no delivery deadline any more"
    blind = decide(None, DEADLINE, 2, "open", CONFIG, NOW)
    assert blind.action == "close" and blind.why == "no arrival time can be estimated any more"


@given(st.lists(st.floats(min_value=-60, max_value=200), min_size=1, max_size=60))
def test_whatever_the_etas_cases_open_and_close_in_turn_and_never_flap_inside_the_band(
    etas: list[float],
) -> None:
    """Any sequence of ETAs: opens and closes alternate; a case opens only with p10 past
    the deadline and closes only after `close_after` ETAs at least the margin before it;
    ETAs between the two thresholds never change anything."""
    case: Case = "none"
    streak, recovered = 0, 0
    for minutes in etas:
        found = estimate(minutes)
        decision = decide(found, DEADLINE, streak, case, CONFIG, NOW)
        recovered = recovered + 1 if minutes <= -15 else 0
        if decision.action == "open":
            assert case == "none" and found.delivery.p10 > DEADLINE
            case = "open"
        elif decision.action == "close":
            assert case == "open" and recovered >= CONFIG.close_after
            case = "none"
        else:
            assert decision.action == "none"
            if -15 < minutes <= 60:  # inside the band: nothing moves, no count goes on
                assert decision.streak == 0 if case == "none" else decision.streak >= 0
        streak = decision.streak


def test_the_deadline_is_the_pending_sla_delivered_timer() -> None:
    doc = {"flows": {"timers": {"sla.delivered": {"id": "t", "due": "2026-11-24T14:00:00Z"}}}}
    assert deadline_of(doc) == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    pickup = {"flows": {"timers": {"sla.picked_up": {"due": "2026-11-24T14:00:00Z"}}}}
    assert deadline_of(pickup) is None
    assert deadline_of({"flows": {"timers": {"sla.delivered": {"due": "soon"}}}}) is None
    assert deadline_of({}) is None


def test_the_case_carries_its_evidence() -> None:
    row = case_row("K", estimate(90), DEADLINE, CONFIG, "control-tower", "why")
    assert (row["kind"], row["team"], row["status"], row["subject"]) == (
        "predicted_delay", "control-tower", "open", "K"
    )  # fmt: skip
    detail = orjson.loads(row["detail"])
    assert detail["late_by_minutes"] == 90 and detail["model_version"] == 3
    assert detail["position"] == {"source": "telematics", "at": "2026-11-23T11:56:00.000000Z",
                                  "age_seconds": 240}  # fmt: skip
    assert detail["p10"] == "2026-11-23T22:30:00.000000Z"
    assert row["reason"].startswith("predicted delivery 2026-11-23T23:30:00")


@pytest.mark.parametrize("confidence", ["p10", "p50"])
def test_the_confidence_is_a_choice_of_the_interval_end(confidence: str) -> None:
    config = EarlyWarningConfig(confidence=confidence)  # type: ignore[arg-type]
    decision = decide(estimate(30, low=60), DEADLINE, 0, "none", config, NOW)
    assert decision.action == ("open" if confidence == "p50" else "none")
