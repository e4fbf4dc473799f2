"""The demo's day as planned: its schedule fills the announced length, and the same seed
plans the same orders, noise and amounts (hence the same invoice totals)."""

from __future__ import annotations

import pytest

from intermodal_sim.demo.day import OUTAGE, RESUME, DayPlan, Script, plan_day
from intermodal_sim.tms.app import TmsScript, linehaul_cents


def _last_status_seconds(script: Script) -> float:
    """When the last load reports its last status, from the partners' scripted delays."""
    tms, unit = script.tms, script.unit
    last = RESUME * unit if script.stalled else 0.0
    for order in script.orders:
        if order.key in script.declined:
            continue
        faults = tms.load_faults.get(order.key, set())
        tendered = order.start * unit
        if OUTAGE[0] * unit <= tendered < OUTAGE[1] * unit:
            tendered = OUTAGE[1] * unit
        delays = [tms.tender_delay_ms / 1000] + [tms.step_delay_ms / 1000] * (
            4 + ("exception" in faults)
        )
        at = tendered
        for i, delay in enumerate(delays):
            at += delay
            if i == 3 and "stall" in faults:  # it reports in_transit only once resumed
                at = max(at, RESUME * unit)
        last = max(last, at)
    return last


@pytest.mark.parametrize(
    ("orders", "seconds", "seed"), [(12, 20, 7), (50, 60, 3), (120, 240, 7), (2, 30, 1)]
)
def test_the_schedule_spans_the_announced_day(orders: int, seconds: float, seed: int) -> None:
    script = plan_day(DayPlan(orders=orders, seconds=seconds, seed=seed))
    last = _last_status_seconds(script)
    # Everything scripted happens inside the day, and late enough that the day is not over
    # long before it is announced to be: the rest is the hub's last invoices.
    assert 0.85 * seconds <= last <= 0.95 * seconds, (last, seconds)
    assert script.ends_at == pytest.approx(last)
    assert script.orders[0].start == 0.0
    assert OUTAGE[1] * script.unit < seconds
    assert not script.stalled or RESUME * script.unit < seconds
    assert script.deliveries == orders - len(script.declined)


def test_the_same_seed_plans_the_same_day_and_amounts_another_seed_another() -> None:
    first, again = plan_day(DayPlan(seed=7)), plan_day(DayPlan(seed=7))
    assert first.orders == again.orders
    assert first.tms.load_faults == again.tms.load_faults
    assert first.tms.decisions == again.tms.decisions
    assert first.tms.linehauls == again.tms.linehauls
    assert first.invoiced_cents() == again.invoiced_cents()
    other = plan_day(DayPlan(seed=8))
    assert other.tms.linehauls != first.tms.linehauls
    assert other.invoiced_cents() != first.invoiced_cents()
    # every linehaul is in the TMS's range, and the orders quoted low are not invoiced
    assert all(80_000 <= c <= 240_000 for c in first.tms.linehauls.values())
    assert not any(o.over_quote for o in first.invoiced)


def test_a_loads_draws_do_not_depend_on_the_order_loads_reach_the_generator() -> None:
    """The TMS used to share one generator: whichever load settled first drew first."""
    keys = [f"DEMO-{i:04d}" for i in range(1, 30)]
    one, other = TmsScript(seed=7), TmsScript(seed=7)
    forward = {k: linehaul_cents(one.random_for(k, "linehaul")) for k in keys}
    backward = {k: linehaul_cents(other.random_for(k, "linehaul")) for k in reversed(keys)}
    assert forward == backward
    crews = {k: one.random_for(k, "crew").random() for k in keys}
    assert crews == {k: other.random_for(k, "crew").random() for k in reversed(keys)}
    assert forward != {k: linehaul_cents(TmsScript(seed=8).random_for(k, "linehaul")) for k in keys}
