"""Early warning: a `predicted_delay` case while an SLA breach can still be avoided.

The `sla` flow sets a durable timer per milestone its service level expects
(workflows/vocabulary.py `sla_timers`); the `sla.delivered` timer's due time is the
delivery deadline. Every ETA refresh compares the predicted arrival with it:

- **open** when the chosen end of the interval (`confidence`: p10 by default, so nine
  chances in ten the truck is later) is past the deadline (plus `open_margin_minutes`)
  for `open_after` refreshes in a row;
- **close** ("recovered") when the ETA itself is at least `close_margin_minutes` before
  the deadline for `close_after` refreshes in a row.

The two tests differ on purpose (hysteresis): an ETA hovering around the deadline opens
one case and leaves it open rather than opening and closing it at every refresh. A case
also closes when the shipment is delivered or cancelled (the prediction is moot) and when
the deadline passes (the `sla_breach` case the timer opens takes over). A case a person
closed in the control tower is not opened again until the prediction has recovered once.

The case carries its evidence (ETA, interval, deadline, method, model version, how old
the position was) in `detail`. Pure decisions here; the refresh job (eta_refresh.py)
writes the case, its Odoo activity and the customers' notifications in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from intermodal.config import EarlyWarningConfig
from intermodal.engine.ids import iso, stable_id
from intermodal.foresight.eta import Estimate

KIND = "predicted_delay"
Action = Literal["open", "close", "forget", "none"]


def deadline_of(document: dict[str, Any]) -> datetime | None:
    """The delivery deadline of the shipment's SLA: its pending `sla.delivered` timer."""
    timers = ((document.get("flows") or {}).get("timers")) or {}
    timer = timers.get("sla.delivered")
    if not isinstance(timer, dict) or not isinstance(timer.get("due"), str):
        return None
    try:
        return datetime.fromisoformat(timer["due"].replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    """open a case, close the open one, forget a case a person closed, or nothing."""
    streak: int
    """Refreshes in a row past the deadline (> 0) or recovered (< 0)."""
    why: str = ""


def decide(
    estimate: Estimate | None,
    deadline: datetime | None,
    streak: int,
    case: Literal["open", "closed", "none"],
    config: EarlyWarningConfig,
    now: datetime,
    previous_deadline: datetime | None = None,
) -> Decision:
    """What to do with the shipment's warning after this refresh. `case` is the state
    of the case the last refreshes opened (`closed`: a person closed it);
    `previous_deadline` the deadline the last refresh saw."""
    if estimate is None or deadline is None:
        if case == "none":
            return Decision("none", 0)
        if deadline is None and previous_deadline is not None and now >= previous_deadline:
            why = "the deadline passed: the SLA breach case takes over"
        elif deadline is None:
            why = "the shipment has no delivery deadline any more"
        else:
            why = "no arrival time can be estimated any more"
        return Decision("close" if case == "open" else "forget", 0, why)
    bound = estimate.delivery.p10 if config.confidence == "p10" else estimate.delivery.at
    over = bound > deadline + timedelta(minutes=config.open_margin_minutes)
    recovered = estimate.delivery.at <= deadline - timedelta(minutes=config.close_margin_minutes)
    if case == "none":
        if not over:
            return Decision("none", 0)
        streak = max(streak, 0) + 1
        if streak >= config.open_after:
            why = f"{config.confidence} arrival {iso(bound)} is past the deadline {iso(deadline)}"
            return Decision("open", streak, why)
        return Decision("none", streak)
    if not recovered:
        return Decision("none", max(streak, 0))
    streak = min(streak, 0) - 1
    if -streak >= config.close_after:
        why = (
            f"recovered: ETA {iso(estimate.delivery.at)} is {config.close_margin_minutes:g} min"
            f" or more before the deadline {iso(deadline)}"
        )
        return Decision("close" if case == "open" else "forget", 0, why)
    return Decision("none", streak)


def evidence(estimate: Estimate, deadline: datetime, config: EarlyWarningConfig) -> dict[str, Any]:
    """What the case shows: the prediction it rests on."""
    return {
        "deadline": iso(deadline),
        "eta": iso(estimate.delivery.at),
        "p10": iso(estimate.delivery.p10),
        "p90": iso(estimate.delivery.p90),
        "late_by_minutes": round((estimate.delivery.at - deadline).total_seconds() / 60),
        "confidence": config.confidence,
        "method": estimate.method,
        "model_version": estimate.model_version,
        "reason": estimate.reason,
        "remaining_km": round(estimate.remaining_km, 1),
        "position": {
            "source": estimate.position_source,
            "at": iso(estimate.position_at),
            "age_seconds": round(estimate.position_age_s),
        },
    }


def case_row(
    key: str, estimate: Estimate, deadline: datetime, config: EarlyWarningConfig, team: str,
    why: str,
) -> dict[str, Any]:  # fmt: skip
    """The `cases` row of a new predicted-delay case (its id: shipment, kind and the
    refresh that opened it; the prediction row keeps it, so one is open at a time)."""
    now = estimate.computed_at
    reason = (
        f"predicted delivery {iso(estimate.delivery.at)} (p10 {iso(estimate.delivery.p10)},"
        f" p90 {iso(estimate.delivery.p90)}) after the SLA deadline {iso(deadline)}"
    )
    return {
        "case_id": stable_id("case", key, KIND, iso(now)),
        "subject": key,
        "kind": KIND,
        "team": team,
        "status": "open",
        "reason": reason[:2000],
        "opened_at": iso(now),
        "detail": orjson.dumps(
            {"source": "foresight.warnings", "why": why, **evidence(estimate, deadline, config)}
        ).decode(),
    }
