"""Anomalies in partners' event streams, raised as `anomaly` cases and closed when normal.

Four detectors, each a pure function of a `History` (what the hub received and applied,
read from the inbox, the events and the shipments; nothing else) that learns what is usual
for its subject from that history and judges the present against it:

- `quiet_partners`: a partner that has sent nothing for far longer than its usual gap
  between messages (the p99 of the gaps in its newest messages), at an hour of the day
  when its usual rate would have brought several messages;
- `exception_bursts`: exceptions (by default `exception` and `delivery_failed`
  milestones) per partner and per lane in the last window, far above the windows before it
  (a robust z-score: median and MAD, with an EWMA for a level that moves);
- `long_dwells`: a shipment sitting at a main-chain milestone far longer than shipments
  of its lane (origin and destination of its stops) usually stay there;
- `out_of_order`: a carrier reporting, in the last window, a larger share of milestones
  out of the order it usually reports them in (learnt per carrier from the shipments it
  reported before the window: some carriers always send `in_transit` before `picked_up`).

Every finding carries a score (its measure over its threshold: 1.0 at the threshold) and an
explanation a person can act on. A subject too new to have a usual (a partner seen for less
than `min_history_hours`, a lane with fewer than `min_samples` dwells) raises nothing.

`AnomalyWatch` is the leader's job: every `interval_seconds` it reads the history
(incrementally: only the inbox hours and events that are new since the last pass), runs the
enabled detectors and `record`s what they found. `record` keeps one open case per anomaly
(`anomaly_state` remembers which), updates its score and explanation while it lasts, and
closes it in the pass that finds the subject normal again. A case a person closed while the
anomaly went on is not reopened until the anomaly has cleared and come back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from intermodal.canonical.model import MAIN_CHAIN, MilestoneType
from intermodal.config import AnomaliesConfig, Settings
from intermodal.engine.ids import iso, stable_id, utcnow
from intermodal.store import Store
from intermodal.store.store import rows_in
from intermodal.store.tables import anomaly_state, cases, events, inbox, shipments

log = logging.getLogger(__name__)

Detector = Literal["quiet", "burst", "dwell", "order"]
DETECTORS: tuple[Detector, ...] = ("quiet", "burst", "dwell", "order")
HUB_PARTNER = "intermodal"
"""The hub's own inbox partner (timers fired, cases closed): not a partner that goes quiet."""
_RANK = {m.value: i for i, m in enumerate(MAIN_CHAIN)}
_ACTIVE_STATES = tuple(
    m.value
    for m in MilestoneType
    if m not in (MilestoneType.DELIVERED, MilestoneType.RETURNED, MilestoneType.CANCELLED)
)
_HOUR = 3600.0
_ORDER_FLOOR = 0.002
_MIN_GAPS = 20
_ONE_HOUR = timedelta(hours=1)
_MAD_TO_SD = 1.4826
"""MAD times this estimates the standard deviation of normally distributed counts."""


# -- what the detectors read ----------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    """A milestone a partner reported (a row of `events`): `seq` is the hub's arrival order."""

    seq: int
    partner: str
    subject: str
    milestone: str
    occurred_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class Active:
    """A shipment still on its way: its current main-chain milestone and since when."""

    key: str
    milestone: str
    since: datetime


@dataclass
class History:
    """Everything the detectors judge, as of `now`."""

    now: datetime
    received: dict[str, list[datetime]] = field(default_factory=dict)
    """Per partner, the receive times of its newest messages (any order)."""
    hourly: dict[str, dict[datetime, int]] = field(default_factory=dict)
    """Per partner, messages received per hour (the hour's start) over the history window;
    empty: counted from `received`."""
    reports: list[Report] = field(default_factory=list)
    lanes: dict[str, str] = field(default_factory=dict)
    """Shipment key -> lane (`origin>destination`)."""
    active: list[Active] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    detector: Detector
    subject: str
    """`partner:<name>`, `lane:<origin>><destination>` or a shipment key."""
    score: float
    """The measure over its threshold: above 1.0 when raised."""
    explanation: str
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.detector}:{self.subject}"


# -- robust statistics ----------------------------------------------------------------------
def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default `linear` method)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    middle = statistics.median(values)
    return float(statistics.median(abs(v - middle) for v in values))


def ewma(values: Iterable[float], alpha: float) -> float:
    """Exponentially weighted mean, oldest first: the newest values weigh most."""
    level: float | None = None
    for value in values:
        level = value if level is None else alpha * value + (1 - alpha) * level
    return level if level is not None else 0.0


def duration(seconds: float) -> str:
    """Seconds as a person says them: `47 min`, `3.5 h`, `2.1 days`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * _HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * _HOUR:
        return f"{seconds / _HOUR:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


# -- quiet partners -------------------------------------------------------------------------
def quiet_partners(history: History, config: AnomaliesConfig) -> list[Finding]:
    c = config.quiet
    now = history.now
    found = []
    for partner in sorted(history.received):
        if partner == HUB_PARTNER:
            continue
        times = sorted(t for t in history.received[partner] if t <= now)
        if len(times) < max(c.min_messages, 2):
            continue
        hourly = history.hourly.get(partner) or dict(Counter(_hour(t) for t in times))
        first_seen = min(times[0], min(hourly, default=times[0]))
        if (now - first_seen).total_seconds() < config.min_history_hours * _HOUR:
            continue
        silence = (now - times[-1]).total_seconds()
        gaps = _gaps_at_these_hours(times, now)
        usual, p99 = statistics.median(gaps), quantile(gaps, 0.99)
        threshold = max(c.factor * p99, c.min_gap_minutes * 60)
        if silence <= threshold:
            continue
        expected = _expected_messages(hourly, first_seen, times[-1], now)
        if expected < c.min_expected:
            continue  # it is usually quiet at these hours
        found.append(
            Finding(
                "quiet",
                f"partner:{partner}",
                silence / threshold,
                f"partner {partner} sent 0 messages in {duration(silence)}; its normal gap"
                f" at these hours is {duration(usual)} (p99 {duration(p99)}), and about"
                f" {expected:.0f} would have come in that time",
                {
                    "partner": partner,
                    "silence_seconds": round(silence, 3),
                    "usual_gap_seconds": round(usual, 3),
                    "p99_gap_seconds": round(p99, 3),
                    "threshold_seconds": round(threshold, 3),
                    "expected_messages": round(expected, 2),
                    "last_message_at": iso(times[-1]),
                },
            )
        )
    return found


def _gaps_at_these_hours(times: list[datetime], now: datetime) -> list[float]:
    """The gaps that began at the hours of the day the silence spans (a partner's gaps at
    night say nothing of its gaps at noon), or every gap when fewer than `_MIN_GAPS` did."""
    last = times[-1]
    hours = {(last + timedelta(hours=h)).hour for h in range(int((now - last) // _ONE_HOUR) + 1)}
    hours.add(now.hour)
    pairs = list(pairwise(times))
    gaps = [(b - a).total_seconds() for a, b in pairs if a.hour in hours]
    if len(gaps) < _MIN_GAPS:
        gaps = [(b - a).total_seconds() for a, b in pairs]
    return gaps


def _expected_messages(
    hourly: dict[datetime, int], first_seen: datetime, last: datetime, now: datetime
) -> float:
    """Messages the partner's usual rate per hour of the day brings between `last` and
    `now`; the rate counts the whole hours from its first to its last message."""
    start, end = _hour(first_seen) + timedelta(hours=1), _hour(last)
    totals: Counter[int] = Counter()
    slots: Counter[int] = Counter()
    slot = start
    while slot < end:
        totals[slot.hour] += hourly.get(slot, 0)
        slots[slot.hour] += 1
        slot += timedelta(hours=1)
    if not slots:  # less than two whole hours seen: one flat rate
        span = max((last - first_seen).total_seconds(), 1.0)
        rate = sum(hourly.values()) / span * _HOUR
        return rate * (now - last).total_seconds() / _HOUR
    expected = 0.0
    at = last
    while at < now:
        step_end = min(_hour(at) + timedelta(hours=1), now)
        hour = at.hour
        rate = totals[hour] / slots[hour] if slots[hour] else 0.0
        expected += rate * (step_end - at).total_seconds() / _HOUR
        at = step_end
    return expected


# -- exception bursts -----------------------------------------------------------------------
def exception_bursts(history: History, config: AnomaliesConfig) -> list[Finding]:
    c = config.bursts
    now = history.now
    window = c.window_minutes * 60
    wanted = {m.value for m in c.milestones}
    first_seen: dict[str, datetime] = {}
    counts: dict[str, Counter[int]] = defaultdict(Counter)

    def seen(key: str, at: datetime) -> None:
        if key not in first_seen or at < first_seen[key]:
            first_seen[key] = at

    # A key's windows start at its first report: the counts come from reports alone.
    for r in history.reports:
        if r.recorded_at > now:
            continue
        keys = [f"partner:{r.partner}"]
        lane = history.lanes.get(r.subject)
        if lane is not None:
            keys.append(f"lane:{lane}")
        for key in keys:
            seen(key, r.recorded_at)
            if r.milestone in wanted:
                # window 0 is (now - W, now]; window i the i-th before it
                age = (now - r.recorded_at).total_seconds()
                counts[key][max(math.ceil(age / window) - 1, 0)] += 1
    found = []
    for key in sorted(first_seen):
        age = (now - first_seen[key]).total_seconds()
        whole = int(age // window)  # windows wholly inside what was seen
        if whole - 1 < c.min_windows or age < config.min_history_hours * _HOUR:
            continue
        current = counts[key][0]
        if current < c.min_count:
            continue
        past = [float(counts[key][i]) for i in range(whole - 1, 0, -1)]  # oldest first
        median, spread_mad = statistics.median(past), mad(past)
        level = ewma(past, c.ewma_alpha)
        usual = max(median, level)
        spread = max(_MAD_TO_SD * spread_mad, math.sqrt(max(usual, 1.0)))
        z = (current - usual) / spread
        if z < c.z:
            continue
        what, name = key.split(":", 1)
        who = f"partner {name} reported" if what == "partner" else f"shipments on lane {name} had"
        found.append(
            Finding(
                "burst",
                key,
                z / c.z,
                f"{who} {current} exceptions in the last {duration(window)}; usually"
                f" {usual:.1f} (median {median:g}, EWMA {level:.1f}, spread {spread:.1f}),"
                f" z = {z:.1f}",
                {
                    "count": current,
                    "usual": round(usual, 3),
                    "median": median,
                    "ewma": round(level, 3),
                    "spread": round(spread, 3),
                    "z": round(z, 3),
                    "windows": len(past),
                },
            )
        )
    return found


# -- long dwells ----------------------------------------------------------------------------
def dwell_samples(history: History) -> dict[tuple[str | None, str], list[float]]:
    """Seconds each shipment stayed at a main-chain milestone before the next one it
    reached, per (lane, milestone), and per (None, milestone) for every lane together."""
    reached: dict[str, dict[str, datetime]] = defaultdict(dict)
    for r in history.reports:
        if r.milestone in _RANK:
            seen = reached[r.subject].get(r.milestone)
            if seen is None or r.occurred_at < seen:
                reached[r.subject][r.milestone] = r.occurred_at
    samples: dict[tuple[str | None, str], list[float]] = defaultdict(list)
    for subject in sorted(reached):
        marks = sorted(reached[subject].items(), key=lambda m: _RANK[m[0]])
        lane = history.lanes.get(subject)
        for (milestone, at), (_next, then) in pairwise(marks):
            seconds = (then - at).total_seconds()
            if seconds < 0:
                continue  # reported out of order: no dwell to learn
            samples[(None, milestone)].append(seconds)
            if lane is not None:
                samples[(lane, milestone)].append(seconds)
    return samples


def long_dwells(history: History, config: AnomaliesConfig) -> list[Finding]:
    c = config.dwell
    now = history.now
    seen = [r.recorded_at for r in history.reports if r.recorded_at <= now]
    if not seen or (now - min(seen)).total_seconds() < config.min_history_hours * _HOUR:
        return []
    samples = dwell_samples(history)
    found = []
    for shipment in sorted(history.active, key=lambda a: a.key):
        if shipment.milestone not in _RANK or shipment.milestone == MilestoneType.DELIVERED:
            continue
        dwell = (now - shipment.since).total_seconds()
        lane = history.lanes.get(shipment.key)
        pool, measured_on = samples.get((lane, shipment.milestone), []), f"lane {lane}"
        if lane is None or len(pool) < c.min_samples:
            pool, measured_on = samples.get((None, shipment.milestone), []), "all lanes"
        if len(pool) < c.min_samples:
            continue
        usual, high = statistics.median(pool), quantile(pool, c.quantile)
        threshold = max(c.factor * high, c.min_dwell_minutes * 60)
        if dwell <= threshold:
            continue
        percent = round(c.quantile * 100)
        found.append(
            Finding(
                "dwell",
                shipment.key,
                dwell / threshold,
                f"shipment {shipment.key} has been {shipment.milestone} for {duration(dwell)};"
                f" on {measured_on} shipments usually stay {duration(usual)}"
                f" (p{percent} {duration(high)}, {len(pool)} seen)",
                {
                    "milestone": shipment.milestone,
                    "since": iso(shipment.since),
                    "lane": lane,
                    "measured_on": measured_on,
                    "dwell_seconds": round(dwell, 3),
                    "usual_seconds": round(usual, 3),
                    "high_seconds": round(high, 3),
                    "threshold_seconds": round(threshold, 3),
                    "samples": len(pool),
                },
            )
        )
    return found


# -- milestones out of a carrier's usual order ----------------------------------------------
def usual_order(
    sequences: Iterable[list[str]], min_support: int, usual: float
) -> set[tuple[str, str]]:
    """Pairs (a, b) a carrier usually reports a before b: at least `usual` of the (at least
    `min_support`) shipments it reported both for got a first."""
    before: Counter[tuple[str, str]] = Counter()
    for sequence in sequences:
        first = list(dict.fromkeys(sequence))
        for i, a in enumerate(first):
            for b in first[i + 1 :]:
                before[(a, b)] += 1
    pairs = set()
    for (a, b), n in before.items():
        total = n + before[(b, a)]
        if total >= min_support and n / total >= usual:
            pairs.add((a, b))
    return pairs


def out_of_order(history: History, config: AnomaliesConfig) -> list[Finding]:
    c = config.order
    now = history.now
    cut = now - timedelta(minutes=c.window_minutes)
    by_partner: dict[str, list[Report]] = defaultdict(list)
    for r in history.reports:
        if r.recorded_at <= now:
            by_partner[r.partner].append(r)
    found = []
    for partner in sorted(by_partner):
        reports = sorted(by_partner[partner], key=lambda r: r.seq)
        if (now - reports[0].recorded_at).total_seconds() < config.min_history_hours * _HOUR:
            continue
        learnt: dict[str, list[str]] = defaultdict(list)
        for r in reports:
            if r.recorded_at <= cut:
                learnt[r.subject].append(r.milestone)
        pairs = usual_order(learnt.values(), c.min_support, c.usual)
        if not pairs:
            continue
        earlier: dict[str, set[str]] = defaultdict(set)
        totals = {"history": 0, "window": 0}
        wrong = {"history": 0, "window": 0}
        example: tuple[str, str, str] | None = None
        for r in reports:
            before = earlier[r.subject]
            if r.milestone in before:
                continue  # a repeat: judged at its first report
            period = "window" if r.recorded_at > cut else "history"
            totals[period] += 1
            late = sorted(a for a in before if (r.milestone, a) in pairs)
            if late:
                wrong[period] += 1
                if period == "window" and example is None:
                    example = (r.milestone, late[0], r.subject)
            before.add(r.milestone)
        if wrong["window"] < c.min_count or not totals["window"]:
            continue
        usual_rate = wrong["history"] / totals["history"] if totals["history"] else 0.0
        # one in the carrier's history, and never under 0.2%: a flawless carrier's first
        # slip is no anomaly
        base = max(usual_rate, 1 / max(totals["history"], 1), _ORDER_FLOOR)
        rate = wrong["window"] / totals["window"]
        if rate < c.factor * base:
            continue
        assert example is not None
        found.append(
            Finding(
                "order",
                f"partner:{partner}",
                rate / (c.factor * base),
                f"carrier {partner} reported {wrong['window']} of its {totals['window']}"
                f" milestones in the last {duration(c.window_minutes * 60)} out of its usual"
                f" order (e.g. {example[0]} after {example[1]} on {example[2]}); usually"
                f" {usual_rate:.1%} of its reports are",
                {
                    "partner": partner,
                    "window_reports": totals["window"],
                    "window_out_of_order": wrong["window"],
                    "usual_rate": round(usual_rate, 5),
                    "rate": round(rate, 5),
                    "example": {
                        "milestone": example[0],
                        "after": example[1],
                        "shipment": example[2],
                    },
                    "usual_pairs": len(pairs),
                },
            )
        )
    return found


_RUNS: dict[Detector, Callable[[History, AnomaliesConfig], list[Finding]]] = {
    "quiet": quiet_partners,
    "burst": exception_bursts,
    "dwell": long_dwells,
    "order": out_of_order,
}


def enabled(config: AnomaliesConfig) -> list[Detector]:
    switches = {
        "quiet": config.quiet.enabled,
        "burst": config.bursts.enabled,
        "dwell": config.dwell.enabled,
        "order": config.order.enabled,
    }
    return [d for d in DETECTORS if switches[d]]


def detect(
    history: History, config: AnomaliesConfig, detectors: Iterable[Detector] | None = None
) -> list[Finding]:
    """Every enabled detector's findings, in detector then subject order."""
    found: list[Finding] = []
    for name in enabled(config) if detectors is None else detectors:
        found.extend(_RUNS[name](history, config))
    return found


# -- reading the history from the store -----------------------------------------------------
def lane_of(document: dict[str, Any], by: Literal["country", "city"] = "country") -> str | None:
    """`origin>destination` from the shipment's first pickup and last delivery stop."""
    stops = ((document.get("shipment") or {}).get("data") or {}).get("stops") or []
    origin = destination = None
    for stop in stops:
        if not isinstance(stop, dict):
            continue
        address = stop.get("address") or {}
        place = address.get("country")
        if by == "city" and address.get("city"):
            place = f"{address['city']}, {place}"
        if stop.get("kind") == "pickup" and origin is None:
            origin = place
        elif stop.get("kind") == "delivery":
            destination = place
    if origin is None or destination is None:
        return None
    return f"{origin}>{destination}"


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


class HistoryReader:
    """Reads a `History` from the store, keeping what does not change between passes:
    the inbox's per-hour counts of whole hours, the events already read (by `seq`) and the
    shipments' lanes (re-read every `relearn_seconds`)."""

    def __init__(
        self,
        store: Store,
        partners: Iterable[str],
        config: AnomaliesConfig,
        relearn_seconds: float = 3600.0,
    ) -> None:
        self.store = store
        self.partners = sorted(p for p in partners if p != HUB_PARTNER)
        self.config = config
        self.relearn_seconds = relearn_seconds
        self._hourly: dict[str, dict[datetime, int]] = {p: {} for p in self.partners}
        self._counted_to: dict[str, datetime] = {}
        self._reports: list[Report] = []
        self._last_seq = 0
        self._lanes: dict[str, str | None] = {}
        self._lanes_at: datetime | None = None

    def read(self, now: datetime) -> History:
        since = now - timedelta(days=self.config.history_days)
        with self.store.read() as conn:
            history = History(now)
            for partner in self.partners:
                history.received[partner] = self._received(conn, partner, since, now)
                history.hourly[partner] = self._hours(conn, partner, since, now)
            self._read_reports(conn, since)
            history.reports = [r for r in self._reports if since <= r.recorded_at <= now]
            history.active = [
                Active(row.key, row.main_milestone, _parse(row.main_at))
                for row in conn.execute(
                    select(shipments.c.key, shipments.c.main_milestone, shipments.c.main_at).where(
                        shipments.c.state.in_(_ACTIVE_STATES),
                        shipments.c.main_milestone.is_not(None),
                        shipments.c.terminal_milestone.is_(None),
                    )
                )
            ]
            keys = {r.subject for r in history.reports} | {a.key for a in history.active}
            history.lanes = self._read_lanes(conn, keys, now)
        return history

    def _received(
        self, conn: Connection, partner: str, since: datetime, now: datetime
    ) -> list[datetime]:
        rows = conn.execute(
            select(inbox.c.received_at)
            .where(
                inbox.c.partner == partner,
                inbox.c.received_at >= iso(since),
                inbox.c.received_at <= iso(now),
            )
            .order_by(inbox.c.received_at.desc())
            .limit(self.config.quiet.sample)
        )
        return [_parse(stamp) for (stamp,) in rows]

    def _hours(
        self, conn: Connection, partner: str, since: datetime, now: datetime
    ) -> dict[datetime, int]:
        """Messages per hour; whole hours are counted once and kept."""
        kept = self._hourly[partner]
        for hour in [h for h in kept if h < _hour(since)]:
            del kept[hour]
        start = max(self._counted_to.get(partner, since), since)
        hour_of = func.substr(inbox.c.received_at, 1, 13)
        rows = conn.execute(
            select(hour_of, func.count())
            .where(
                inbox.c.partner == partner,
                inbox.c.received_at >= iso(_hour(start)),
                inbox.c.received_at <= iso(now),
            )
            .group_by(hour_of)
        )
        current = _hour(now)
        counts = dict(kept)
        for stamp, count in rows:
            hour = datetime.fromisoformat(f"{stamp}:00:00+00:00")
            counts[hour] = int(count)
            if hour < current:
                kept[hour] = int(count)
        self._counted_to[partner] = current
        return counts

    def _read_reports(self, conn: Connection, since: datetime) -> None:
        columns = (
            events.c.seq,
            events.c.partner,
            events.c.subject,
            events.c.milestone,
            events.c.occurred_at,
            events.c.recorded_at,
        )
        query = select(*columns).where(
            events.c.milestone.is_not(None), events.c.outcome != "duplicate"
        )
        if self._last_seq:
            query = query.where(events.c.seq > self._last_seq).order_by(events.c.seq)
        else:  # the first pass: the newest `max_reports`
            query = query.order_by(events.c.seq.desc()).limit(self.config.max_reports)
        new = [
            Report(
                r.seq,
                r.partner,
                r.subject,
                r.milestone,
                _parse(r.occurred_at),
                _parse(r.recorded_at),
            )
            for r in conn.execute(query)
        ]
        new.sort(key=lambda r: r.seq)
        kept = [r for r in self._reports if r.recorded_at >= since] + new
        self._reports = kept[-self.config.max_reports :]
        if new:
            self._last_seq = new[-1].seq

    def _read_lanes(self, conn: Connection, keys: set[str], now: datetime) -> dict[str, str]:
        if self._lanes_at is None or (now - self._lanes_at).total_seconds() > self.relearn_seconds:
            self._lanes, self._lanes_at = {}, now
        missing = sorted(k for k in keys if k not in self._lanes)
        query = select(shipments.c.key, shipments.c.document)
        for row in rows_in(conn, query, shipments.c.key, missing, 500):
            try:
                document = orjson.loads(row.document)
            except orjson.JSONDecodeError:
                document = {}
            self._lanes[row.key] = lane_of(document, self.config.lane_by)
        for key in missing:
            self._lanes.setdefault(key, None)
        return {k: lane for k in keys if (lane := self._lanes.get(k)) is not None}


# -- cases ----------------------------------------------------------------------------------
@dataclass
class Recorded:
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    """Anomaly keys (`detector:subject`)."""


def record(
    store: Store,
    findings: Sequence[Finding],
    checked: Iterable[Detector],
    now: datetime,
    team: str = "operations",
) -> Recorded:
    """Open a case per new anomaly, update the open ones, close those found normal again.

    Only anomalies of the `checked` detectors can clear (a detector switched off leaves its
    cases as they are). One transaction: a pass is recorded whole or not at all, and the
    case ids are stable (subject, detector, the pass that opened it), so a pass repeated
    after a crash opens nothing twice."""
    done = Recorded()
    at = iso(now)
    checked = set(checked)
    found = {f.key: f for f in findings}
    with store.write() as conn:
        state = {row.key: row for row in conn.execute(select(anomaly_state))}
        for key in sorted(found):
            finding = found[key]
            detail = {
                "detector": finding.detector,
                "anomaly": key,
                "score": round(finding.score, 3),
                "explanation": finding.explanation,
                "facts": finding.facts,
                "updated_at": at,
            }
            row = state.get(key)
            if row is None:
                case_id = stable_id("case", finding.subject, "anomaly", finding.detector, at)
                conn.execute(
                    store.insert_ignoring(cases, ["case_id"]).values(
                        case_id=case_id,
                        subject=finding.subject[:128],
                        kind="anomaly",
                        team=team,
                        status="open",
                        reason=finding.explanation[:2000],
                        opened_at=at,
                        detail=orjson.dumps({**detail, "first_seen": at}).decode(),
                    )
                )
                conn.execute(
                    insert(anomaly_state).values(
                        key=key,
                        detector=finding.detector,
                        subject=finding.subject[:128],
                        case_id=case_id,
                        score=finding.score,
                        since=at,
                        last_seen=at,
                    )
                )
                done.opened.append(key)
                continue
            conn.execute(
                update(anomaly_state)
                .where(anomaly_state.c.key == key)
                .values(score=finding.score, last_seen=at)
            )
            changed = conn.execute(
                update(cases)
                .where(cases.c.case_id == row.case_id, cases.c.status == "open")
                .values(
                    reason=finding.explanation[:2000],
                    detail=orjson.dumps({**detail, "first_seen": row.since}).decode(),
                )
            ).rowcount
            if changed:
                done.updated.append(key)
        for key in sorted(state):
            row = state[key]
            if key in found or row.detector not in checked:
                continue
            conn.execute(delete(anomaly_state).where(anomaly_state.c.key == key))
            still_open = (cases.c.case_id == row.case_id, cases.c.status == "open")
            previous = conn.execute(select(cases.c.detail).where(*still_open)).scalar()
            if previous is None:
                continue  # a person closed it already
            try:
                detail = orjson.loads(previous)
            except orjson.JSONDecodeError:
                detail = {}
            detail["cleared_at"] = at
            conn.execute(
                update(cases)
                .where(*still_open)
                .values(status="closed", closed_at=at, detail=orjson.dumps(detail).decode())
            )
            done.closed.append(key)
    return done


# -- the leader's job -----------------------------------------------------------------------
@dataclass
class PassResult:
    findings: list[Finding]
    recorded: Recorded


class AnomalyWatch:
    """Runs the enabled detectors over the store every `interval_seconds` (leader only)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        if settings.foresight is None:
            raise ValueError("the configuration has no `foresight` section")
        self.store = store
        self.config = settings.foresight.anomalies
        teams = settings.workflows.teams if settings.workflows is not None else {}
        self.team = teams.get("anomaly") or "operations"
        self.reader = HistoryReader(store, settings.partners, self.config)
        self.passes = 0

    def run_once(self, now: datetime | None = None) -> PassResult:
        now = now or utcnow()
        history = self.reader.read(now)
        checked = enabled(self.config)
        findings = detect(history, self.config, checked)
        recorded = record(self.store, findings, checked, now, self.team)
        self.passes += 1
        if recorded.opened or recorded.closed:
            log.info(
                "anomalies: %d opened, %d closed, %d open",
                len(recorded.opened),
                len(recorded.closed),
                len(findings),
            )
        return PassResult(findings, recorded)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("anomaly pass failed; next try in %ss", self.config.interval_seconds)
            await asyncio.sleep(self.config.interval_seconds)
