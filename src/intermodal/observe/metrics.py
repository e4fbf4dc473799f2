"""Prometheus metrics: what flows in, what is applied, what goes out, what is stuck.

Each hub owns its registry (tests run several hubs in one process). Counters are bumped
where things happen; depths and business gauges (backlogs, dead letters, shipments by
state, open cases, delivered-not-invoiced, data freshness) are read from the store at
scrape time by a collector, so they are true even after a restart, agree between hub
processes sharing one database, and cost nothing on the hot path. The business part
is cached for `cache_seconds` (`telemetry.metrics_cache_seconds`): several Prometheus
servers scraping every few seconds then cost one set of queries.

Code that has no handle on the hub (the Odoo client, built by a sink factory) finds the
hub's `Metrics` in the `current` context variable, which the dispatcher and the pollers
set in their tasks; asyncio copies it into every task they start.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from intermodal.engine.ids import iso
from intermodal.store import Store
from intermodal.store.tables import cases, dead_letters, inbox, leases, outbox, shipments
from intermodal.workflows.billing import charges_by_currency, delivered_not_invoiced

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
# Open cases by age: upper bounds in seconds, and the label of each bucket.
AGE_BUCKETS: tuple[tuple[float, str], ...] = (
    (3600, "lt_1h"),
    (4 * 3600, "1h_4h"),
    (24 * 3600, "4h_24h"),
    (72 * 3600, "1d_3d"),
)
OLDEST_BUCKET = "gt_3d"

current: ContextVar[Metrics | None] = ContextVar("intermodal_metrics", default=None)


class Metrics:
    def __init__(
        self,
        store: Store | None = None,
        partners: Sequence[str] = (),
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        endpoints: Sequence[str] = (),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ingress = Counter(
            "intermodal_ingress_messages",
            "Messages received by partner, channel and result"
            " (accepted, duplicate, conflict, rejected, rate_limited).",
            ["partner", "channel", "result"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "intermodal_ingress_ack_seconds",
            "Time from request to durable acknowledgement, by partner and channel.",
            ["partner", "channel"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.last_message = Gauge(
            "intermodal_partner_last_message_timestamp_seconds",
            "When each partner last sent a message that was accepted (data freshness).",
            ["partner"],
            registry=r,
            multiprocess_mode="max",
        )
        self.group_commit_rows = Histogram(
            "intermodal_group_commit_rows",
            "Messages written per inbox commit (how many requests share one fsync).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=r,
        )
        self.store_write_seconds = Histogram(
            "intermodal_store_write_seconds",
            "Wall time of the hub's write transactions, by stage: ingest (one inbox commit)"
            " and apply (one batch's writes). On SQLite each holds the database's one writer"
            " lock: when the two stages' sums together grow by nearly a second a second, the"
            " lock is what limits the node.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "intermodal_events_applied",
            "Events applied, by partner and outcome (applied, late, duplicate, violation; skipped:"
            " a mapped item that could not be read while the rest of its message applied).",
            ["partner", "outcome"],
            registry=r,
        )
        self.positions = Counter(
            "intermodal_positions",
            "Position fixes by partner and outcome (latest, tracked, thinned, duplicate,"
            " refused): kept per shipment, never as events (foresight/positions.py).",
            ["partner", "outcome"],
            registry=r,
        )
        self.positions_refused = Counter(
            "intermodal_positions_refused",
            "Position fixes refused, by partner and reason (implied_speed, accuracy, future,"
            " no_fix, unassigned; outvoted: a latest position two later fixes contradicted).",
            ["partner", "reason"],
            registry=r,
        )
        self.messages_rejected = Counter(
            "intermodal_inbox_rejected",
            "Inbox messages that could not be applied (kept in the inbox with their error).",
            registry=r,
        )
        self.applier_restarts = Counter(
            "intermodal_applier_restarts",
            "Times the applier process died on its own and the hub started a new one.",
            registry=r,
        )
        self.leader = Gauge(
            "intermodal_leader",
            "1 while this node holds the leader lease and runs the singletons (timers,"
            " pollers, sync, reconciliation, retention), else 0.",
            registry=r,
            multiprocess_mode="livemax",  # set by the core worker only, under --workers N
        )
        self.leader_changes = Counter(
            "intermodal_leader_changes",
            "Times this node gained or lost the leader lease, by change (gained, lost).",
            ["change"],
            registry=r,
        )
        self.commands = Counter(
            "intermodal_outbox_commands",
            "Delivery outcomes by endpoint: delivered, retried, dead (to dead letters), deferred.",
            ["endpoint", "result"],
            registry=r,
        )
        self.outbox_pruned = Counter(
            "intermodal_outbox_pruned",
            "Delivered commands deleted from the outbox by retention (delivery.keep_delivered).",
            registry=r,
        )
        self.delivery_latency = Histogram(
            "intermodal_delivery_seconds",
            "Time of one delivery call to an endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.breaker = Gauge(
            "intermodal_breaker_state",
            "Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open.",
            ["endpoint"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.odoo_calls = Counter(
            "intermodal_odoo_calls",
            "Odoo calls by model, method and result (ok, retryable, error).",
            ["model", "method", "result"],
            registry=r,
        )
        self.odoo_latency = Histogram(
            "intermodal_odoo_call_seconds",
            "Time of one Odoo call (HTTP round trip), by model and method.",
            ["model", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter(
            "intermodal_auth_failures",
            "Authentication failures by route kind (webhook, batch, edi, odoo, read, admin,"
            " metrics, other) and reason (missing, unknown, expired, revoked, signature,"
            " wrong_partner); never the token.",
            ["route", "reason"],
            registry=r,
        )
        self._store_collector: Collector | None = None
        if store is not None:
            self._store_collector = _StoreCollector(
                store, tuple(partners), cache_seconds, clock, tuple(endpoints)
            )
            r.register(self._store_collector)
        # `intermodal serve --workers N` (intermodal/serve.py): every worker's counters
        # live in files there, and any worker's /metrics sums them all.
        self._multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self._received: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

    def received(self, partner: str, channel: str, result: str, seconds: float) -> None:
        """Count one answered message: by result, its ack latency, the partner's last one.

        The labelled children are looked up once per (partner, channel, result): each
        `labels()` call takes a lock and builds its key, 3% of a webhook's CPU for three
        of them (BENCHMARKS.md, W1).
        """
        key = (partner, channel, result)
        children = self._received.get(key)
        if children is None:
            children = (
                self.ingress.labels(partner, channel, result),
                self.ack_latency.labels(partner, channel),
                self.last_message.labels(partner),
            )
            self._received[key] = children
        count, latency, last = children
        count.inc()
        latency.observe(seconds)
        last.set(time.time())

    def render(self) -> bytes:
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        if self._store_collector is not None:
            registry.register(self._store_collector)
        return generate_latest(registry)

    def odoo_call(self, model: str, method: str, result: str, seconds: float) -> None:
        self.odoo_calls.labels(model, method, result).inc()
        self.odoo_latency.labels(model, method).observe(seconds)


class _StoreCollector(Collector):
    """Depths and business gauges, counted in the store when Prometheus scrapes."""

    def __init__(
        self,
        store: Store,
        partners: tuple[str, ...],
        cache_seconds: float,
        clock: Callable[[], datetime] | None,
        endpoints: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.partners = partners
        self.endpoints = endpoints
        self.cache_seconds = cache_seconds
        self.clock = clock or (lambda: datetime.now(UTC))
        self._cached: list[GaugeMetricFamily] = []
        self._cached_at = float("-inf")

    def collect(self) -> Iterator[Any]:
        yield from self._depths()
        if time.monotonic() - self._cached_at >= self.cache_seconds:
            self._cached = self._business()
            self._cached_at = time.monotonic()
        yield from self._cached

    def _depths(self) -> list[GaugeMetricFamily]:
        """Backlogs and shipments by state: cheap (partial and state indexes), never cached."""
        with self.store.read() as conn:
            pending_inbox = conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
            ).scalar_one()
            pending_outbox = conn.execute(
                select(
                    outbox.c.endpoint,
                    func.count(),
                    func.sum(case((outbox.c.attempts > 0, 1), else_=0)),
                )
                .where(outbox.c.status == "pending")
                .group_by(outbox.c.endpoint)
            ).all()
            dead = conn.execute(
                select(dead_letters.c.endpoint, func.count()).group_by(dead_letters.c.endpoint)
            ).all()
            states = conn.execute(
                select(shipments.c.state, func.count()).group_by(shipments.c.state)
            ).all()
            unrouted = conn.execute(
                select(func.count())
                .select_from(inbox)
                .where(inbox.c.status == "pending", inbox.c.partition.is_(None))
            ).scalar_one()
            live = iso(datetime.now(UTC))
            held = {
                kind: conn.execute(
                    select(func.count())
                    .select_from(leases)
                    .where(leases.c.name.like(f"{prefix}%"), leases.c.expires_at > live)
                ).scalar_one()
                for kind, prefix in (("appliers", "applier:"), ("partitions", "partition:"))
            }
        out = [
            GaugeMetricFamily(
                "intermodal_inbox_pending", "Inbox messages not yet applied.", value=pending_inbox
            ),
            GaugeMetricFamily(
                "intermodal_inbox_unrouted",
                "Pending inbox messages whose shipments' partition is not known yet"
                " (mapped, EDI, Odoo capture, timers): appliers route them first.",
                value=unrouted,
            ),
            GaugeMetricFamily(
                "intermodal_appliers",
                "Applier processes alive on every node of this database (membership leases).",
                value=held.get("appliers", 0),
            ),
            GaugeMetricFamily(
                "intermodal_partitions_held",
                "Partitions an applier holds a live lease for; below hub.partitions, some"
                " shipments have no applier (a dead one's leases not yet expired, or none"
                " running). An embedded hub's one applier holds none and applies all.",
                value=held.get("partitions", 0),
            ),
        ]
        pending = GaugeMetricFamily(
            "intermodal_outbox_pending", "Commands waiting for delivery.", labels=["endpoint"]
        )
        retrying = GaugeMetricFamily(
            "intermodal_outbox_retrying",
            "Pending commands that failed at least once (waiting for their next attempt).",
            labels=["endpoint"],
        )
        # A configured endpoint with nothing waiting is a 0, not a missing series: an alert
        # on `intermodal_dead_letters > 0` or a dashboard panel needs the series to exist
        # from start, and a series that vanishes when its backlog drains reads as "no data".
        waiting = {name: (0, 0) for name in self.endpoints}
        waiting.update(
            {endpoint: (count, int(failed or 0)) for endpoint, count, failed in pending_outbox}
        )
        for endpoint, (count, failed) in sorted(waiting.items()):
            pending.add_metric([endpoint], count)
            retrying.add_metric([endpoint], failed)
        dead_family = GaugeMetricFamily(
            "intermodal_dead_letters", "Commands in the dead-letter list.", labels=["endpoint"]
        )
        letters = {name: 0 for name in self.endpoints}
        letters.update({endpoint: count for endpoint, count in dead})
        for endpoint, count in sorted(letters.items()):
            dead_family.add_metric([endpoint], count)
        family = GaugeMetricFamily(
            "intermodal_shipments", "Shipments by current state.", labels=["state"]
        )
        for state, count in states:
            family.add_metric([state or "none"], count)
        return [*out, pending, retrying, dead_family, family]

    def _business(self) -> list[GaugeMetricFamily]:
        now = self.clock()
        with self.store.read() as conn:
            age = case(
                *(
                    (cases.c.opened_at > iso(now - timedelta(seconds=bound)), label)
                    for bound, label in AGE_BUCKETS
                ),
                else_=OLDEST_BUCKET,
            )
            open_cases = conn.execute(
                select(cases.c.kind, age, func.count())
                .where(cases.c.status == "open")
                .group_by(cases.c.kind, age)
            ).all()
            breaches = conn.execute(
                select(cases.c.status, func.count())
                .where(cases.c.kind == "sla_breach")
                .group_by(cases.c.status)
            ).all()
            not_invoiced = conn.execute(delivered_not_invoiced(shipments.c.document)).all()
            last_seen = {
                partner: conn.execute(
                    select(func.max(inbox.c.received_at)).where(inbox.c.partner == partner)
                ).scalar()
                for partner in self.partners
            }
        out = []
        family = GaugeMetricFamily(
            "intermodal_cases_open",
            "Open cases (exceptions, holds, SLA breaches, disputes) by kind and age.",
            labels=["kind", "age"],
        )
        for kind, bucket, count in open_cases:
            family.add_metric([kind, bucket], count)
        out.append(family)
        family = GaugeMetricFamily(
            "intermodal_sla_breaches",
            "SLA breach cases by status (open, closed).",
            labels=["status"],
        )
        for status, count in breaches:
            family.add_metric([status], count)
        out.append(family)
        out.append(
            GaugeMetricFamily(
                "intermodal_delivered_not_invoiced",
                "Delivered shipments whose customer invoice Odoo does not have yet.",
                value=len(not_invoiced),
            )
        )
        family = GaugeMetricFamily(
            "intermodal_delivered_not_invoiced_value",
            "Charges of the delivered, not invoiced shipments, by currency.",
            labels=["currency"],
        )
        totals = charges_by_currency(r.document for r in not_invoiced)
        for currency, total in sorted(totals.items()):
            family.add_metric([currency], float(total))
        out.append(family)
        family = GaugeMetricFamily(
            "intermodal_partner_freshness_seconds",
            "Seconds since each partner's newest inbox message (any channel).",
            labels=["partner"],
        )
        for partner, stamp in last_seen.items():
            if stamp is not None:
                seen = datetime.fromisoformat(stamp)
                family.add_metric([partner], max((now - seen).total_seconds(), 0.0))
        out.append(family)
        return out


def now() -> float:
    return time.perf_counter()
