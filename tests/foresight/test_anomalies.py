"""The anomaly detectors as pure functions of a History (foresight/anomalies.py).

Streams come from the simulator's world (intermodal_sim.anomaly_streams): each detector must
find what was planted for it, name nothing else, and stay quiet on the same world with
nothing planted, where a chatty carrier has exceptions every hour, a road carrier always
reports `in_transit` before `picked_up`, a WMS is silent every night and an air lane takes
days. Properties: a detector's findings do not depend on the order its input lists come
in, and a subject seen for less than `min_history_hours` raises nothing.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from datetime import UTC, datetime, timedelta

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.config import AnomaliesConfig
from intermodal.foresight.anomalies import (
    Active,
    History,
    Report,
    detect,
    duration,
    ewma,
    exception_bursts,
    long_dwells,
    mad,
    out_of_order,
    quantile,
    quiet_partners,
)
from intermodal_sim.anomaly_streams import stream, to_history

CONFIG = AnomaliesConfig()
DAYS = 2.0
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def planted() -> dict[str, tuple[History, set[str], set[str]]]:
    """Per detector: a stream with only that anomaly planted, its key, and the keys it
    explains besides (a carrier's burst shows on its lanes too)."""
    out = {}
    for detector in ("quiet", "burst", "dwell", "order"):
        for seed in range(20):
            s = stream(seed, days=DAYS, plant=[detector], now=NOW)
            if s.planted:
                plant = s.planted[0]
                out[detector] = (to_history(s), {plant.key}, set(plant.also))
                break
    return out


@pytest.mark.parametrize("detector", ["quiet", "burst", "dwell", "order"])
def test_each_detector_finds_its_planted_anomaly_and_nothing_else(
    planted: dict[str, tuple[History, set[str], set[str]]], detector: str
) -> None:
    history, wanted, explained = planted[detector]
    found = {f.key: f for f in detect(history, CONFIG)}
    assert wanted <= set(found), (wanted, sorted(found))
    assert set(found) - wanted - explained == set()
    finding = found[next(iter(wanted))]
    assert finding.score > 1.0
    assert finding.explanation


def test_a_normal_stream_raises_nothing() -> None:
    """(Dwells are lognormal: about one stream in ten of this world has a shipment past
    twice its lane's p95 by chance, a real long dwell; seed 5 has none.)"""
    s = stream(5, days=3.0, plant=[])
    assert s.planted == []
    assert detect(to_history(s), CONFIG) == []


def test_the_quiet_partner_is_explained_in_minutes_and_gaps(
    planted: dict[str, tuple[History, set[str], set[str]]],
) -> None:
    history, wanted, _ = planted["quiet"]
    (finding,) = [f for f in quiet_partners(history, CONFIG) if f.key in wanted]
    partner = finding.facts["partner"]
    assert finding.explanation.startswith(f"partner {partner} sent 0 messages in ")
    assert "its normal gap at these hours is" in finding.explanation
    assert "(p99 " in finding.explanation
    assert finding.facts["silence_seconds"] > finding.facts["threshold_seconds"]


def _daytime_partner(days: int, now: datetime) -> History:
    """A partner that writes every 5 minutes from 06:00 to 22:00 UTC and never at night."""
    times = []
    day = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < now:
        at = day.replace(hour=6)
        while at < day.replace(hour=22) and at < now:
            times.append(at)
            at += timedelta(minutes=5)
        day += timedelta(days=1)
    return History(now, {"wms": times})


def test_a_partner_quiet_at_its_quiet_hours_is_no_anomaly() -> None:
    night = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # silent since 22:00, as every night
    assert quiet_partners(_daytime_partner(7, night), CONFIG) == []
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    history = _daytime_partner(7, noon)
    history.received["wms"] = [t for t in history.received["wms"] if t < noon - timedelta(hours=1)]
    (finding,) = quiet_partners(history, CONFIG)
    assert finding.subject == "partner:wms"
    assert "sent 0 messages in 65 min" in finding.explanation  # since 10:55
    assert "normal gap at these hours is 5 min" in finding.explanation


def _shuffled(history: History, rng: random.Random) -> History:
    received = {p: rng.sample(ts, len(ts)) for p, ts in history.received.items()}
    return dataclasses.replace(
        history,
        received=received,
        reports=rng.sample(history.reports, len(history.reports)),
        active=rng.sample(history.active, len(history.active)),
    )


@pytest.fixture(scope="module")
def everything() -> History:
    s = stream(4, days=2.0, plant=["quiet", "burst", "dwell", "order"], now=NOW)
    return to_history(s)


@settings(max_examples=2, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_findings_do_not_depend_on_the_order_of_the_input(everything: History, seed: int) -> None:
    config = AnomaliesConfig(min_history_hours=12, bursts={"min_windows": 12})
    found = detect(everything, config)
    assert {f.detector for f in found} == {"quiet", "burst", "dwell", "order"}
    assert detect(_shuffled(everything, random.Random(seed)), config) == found


@settings(max_examples=25, deadline=None)
@given(
    hours=st.floats(min_value=0.5, max_value=23.5),
    gaps=st.lists(st.floats(min_value=1, max_value=600), min_size=60, max_size=300),
    exceptions=st.integers(min_value=0, max_value=60),
)
def test_a_subject_seen_for_less_than_the_minimum_history_raises_nothing(
    hours: float, gaps: list[float], exceptions: int
) -> None:
    """Whatever it sent: a silence, a burst, stuck shipments, nonsense order."""
    start = NOW - timedelta(hours=hours)
    times = [start]
    for gap in gaps:
        if times[-1] + timedelta(seconds=gap) < NOW - timedelta(hours=hours / 2):
            times.append(times[-1] + timedelta(seconds=gap))
    milestones = ["delivered", "exception", "booked"]
    reports = [
        Report(i, "carrier", f"S{i % 7}", milestones[i % 3], t, t)
        for i, t in enumerate(times[: exceptions + 1])
    ]
    active = [Active("S1", "in_transit", start)]
    history = History(NOW, {"carrier": times}, {}, reports, {"S1": "US>US"}, active)
    config = AnomaliesConfig(
        quiet={"min_messages": 2, "min_expected": 0, "min_gap_minutes": 1},
        bursts={"min_count": 1, "min_windows": 2, "window_minutes": 5},
        dwell={"min_samples": 2, "min_dwell_minutes": 1},
        order={"min_support": 1, "min_count": 1},
    )
    assert detect(history, config) == []


def test_a_carriers_habitual_order_is_learnt_and_a_new_one_is_not_excused() -> None:
    """freightline always sends in_transit before picked_up: normal for it. Sending
    delivered before out_for_delivery is new: raised."""
    reports: list[Report] = []
    seq = 0

    def report(subject: str, milestone: str, at: datetime) -> None:
        nonlocal seq
        seq += 1
        reports.append(Report(seq, "freightline", subject, milestone, at, at))

    start = NOW - timedelta(days=3)
    for i in range(60):
        at = start + timedelta(hours=i)
        for step, milestone in enumerate(
            ["booked", "in_transit", "picked_up", "out_for_delivery", "delivered"]
        ):
            report(f"OLD-{i}", milestone, at + timedelta(minutes=step))
    history = History(NOW, {}, {}, reports)
    assert out_of_order(history, CONFIG) == []
    for i in range(4):
        at = NOW - timedelta(minutes=50 - i)
        report(f"NEW-{i}", "booked", at - timedelta(hours=2))
        report(f"NEW-{i}", "delivered", at)
        report(f"NEW-{i}", "out_for_delivery", at + timedelta(minutes=1))
    (finding,) = out_of_order(History(NOW, {}, {}, reports), CONFIG)
    assert finding.subject == "partner:freightline"
    assert "out_for_delivery after delivered" in finding.explanation
    assert finding.facts["window_out_of_order"] == 4


def test_a_lane_with_too_few_dwells_is_measured_on_every_lane() -> None:
    reports = []
    seq = 0
    for i in range(30):
        at = NOW - timedelta(days=3) + timedelta(hours=i)
        for m, offset in (("picked_up", 0), ("in_transit", 1), ("out_for_delivery", 5)):
            seq += 1
            reports.append(Report(seq, "c", f"S{i}", m, at + timedelta(hours=offset),
                                  at + timedelta(hours=offset)))  # fmt: skip
    lanes = {f"S{i}": "DE>FR" for i in range(30)} | {"NEW": "PL>CZ"}
    active = [Active("NEW", "in_transit", NOW - timedelta(hours=20))]
    (finding,) = long_dwells(History(NOW, {}, {}, reports, lanes, active), CONFIG)
    assert finding.subject == "NEW"
    assert "on all lanes shipments usually stay 4.0 h" in finding.explanation
    assert finding.facts["measured_on"] == "all lanes"


def test_robust_statistics_agree_with_numpy() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(0, 1) for _ in range(101)]
    for q in (0.0, 0.25, 0.5, 0.95, 0.99, 1.0):
        assert quantile(values, q) == pytest.approx(float(numpy.quantile(values, q)))
    middle = statistics.median(values)
    assert mad(values) == pytest.approx(
        float(numpy.median(numpy.abs(numpy.array(values) - middle)))
    )
    assert ewma([1.0, 1.0, 1.0], 0.5) == 1.0
    assert ewma([0.0, 10.0], 0.1) == pytest.approx(1.0)
    assert ewma([], 0.1) == 0.0
    assert [duration(s) for s in (59, 2820, 12600, 190000)] == [
        "59 s",
        "47 min",
        "3.5 h",
        "2.2 days",
    ]


def test_bursts_need_their_minimum_count() -> None:
    reports = [Report(i, "p", f"S{i}", "exception", NOW - timedelta(minutes=5 + i),
                      NOW - timedelta(minutes=5 + i)) for i in range(4)]  # fmt: skip
    reports.append(
        Report(99, "p", "S0", "booked", NOW - timedelta(days=3), NOW - timedelta(days=3))
    )
    history = History(NOW, {}, {}, reports)
    assert exception_bursts(history, CONFIG) == []  # 4 < min_count 5
    fewer = AnomaliesConfig(bursts={"min_count": 4, "z": 3.0})
    (finding,) = exception_bursts(history, fewer)
    assert finding.subject == "partner:p" and finding.facts["count"] == 4
