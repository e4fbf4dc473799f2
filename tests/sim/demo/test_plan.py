"""The demo's day as planned: its schedule fills the announced length, and the same seed
plans the same orders, noise and amounts (hence the same invoice totals)."""

from __future__ import annotations

import pytest

from intermodal_sim.demo.day import OUTAGE, RESUME, DayPlan, Script, plan_day
from intermodal_sim.exception_texts import PHRASES
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


def test_the_script_plants_one_exception_a_load_and_knows_its_kind() -> None:
    script = plan_day(DayPlan(orders=120, seconds=240, seed=7))
    truth = script.truth()
    faults = script.tms.load_faults
    assert script.declined <= truth.keys() and script.held <= truth.keys()
    assert {truth[k] for k in script.declined} == {"carrier_exception"}
    delayed = {k for k, f in faults.items() if "exception" in f}
    assert delayed and {truth[k] for k in delayed} == {PHRASES["delay"][0]}
    reported = [o for o in script.orders if o.driver_report]
    assert reported[0].key == "DEMO-0002"  # early: the drivers' app has a usual
    for order in reported:
        assert order.key not in script.declined | script.held | delayed | script.stalled
        assert truth[order.key] == PHRASES[order.driver_report][0]
    # the stalls: early in the day (they outlast the SLA), never with in_transit last
    for key in script.stalled:
        assert int(key.rsplit("-", 1)[1]) <= 60 and "reorder" not in faults[key]


def test_the_script_sends_papers_and_invoices_for_some_loads() -> None:
    script = plan_day(DayPlan(orders=120, seconds=240, seed=7))
    kept = [o for o in script.orders if o.key not in script.declined]
    assert all(o.invoice_document for o in kept if o.over_quote)
    assert 0 < sum(o.invoice_document for o in kept) < len(kept) / 2
    papers = [o.pod_document for o in kept if o.pod_document]
    assert papers.count("scan") >= 3 and papers.count("pdf") > papers.count("scan")
    assert not any(o.pod_document or o.invoice_document for o in script.orders
                   if o.key in script.declined)  # fmt: skip
