"""Prometheus metrics: what flows in, what is applied, what goes out, what is stuck.

Each hub owns its registry (tests run several hubs in one process). Counters are bumped
where things happen; depths and business gauges (backlogs, dead letters, shipments by
state) are read from the store at scrape time by a collector, so they are true even after
a restart and cost nothing on the hot path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from intermodal.store import Store
from intermodal.store.tables import dead_letters, inbox, outbox, shipments

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ingress = Counter(
            "intermodal_ingress_messages",
            "Messages received by partner, channel and result"
            " (accepted, duplicate, conflict, rejected).",
            ["partner", "channel", "result"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "intermodal_ingress_ack_seconds",
            "Time from request to durable acknowledgement.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.last_message = Gauge(
            "intermodal_partner_last_message_timestamp_seconds",
            "When each partner last sent a message that was accepted (data freshness).",
            ["partner"],
            registry=r,
        )
        self.group_commit_rows = Histogram(
            "intermodal_group_commit_rows",
            "Messages written per inbox commit (how many requests share one fsync).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=r,
        )
        self.events = Counter(
            "intermodal_events_applied",
            "Events applied, by partner and outcome (applied, late, duplicate, violation).",
            ["partner", "outcome"],
            registry=r,
        )
        self.messages_rejected = Counter(
            "intermodal_inbox_rejected",
            "Inbox messages that could not be applied (kept in the inbox with their error).",
            registry=r,
        )
        self.commands = Counter(
            "intermodal_outbox_commands",
            "Delivery outcomes by endpoint: delivered, retried, dead (to dead letters), deferred.",
            ["endpoint", "result"],
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
        )
        if store is not None:
            r.register(_StoreCollector(store))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    """Depths and business gauges, counted in the store when Prometheus scrapes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        with self.store.read() as conn:
            pending_inbox = conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
            ).scalar_one()
            pending_outbox = conn.execute(
                select(outbox.c.endpoint, func.count())
                .where(outbox.c.status == "pending")
                .group_by(outbox.c.endpoint)
            ).all()
            dead = conn.execute(
                select(dead_letters.c.endpoint, func.count()).group_by(dead_letters.c.endpoint)
            ).all()
            states = conn.execute(
                select(shipments.c.state, func.count()).group_by(shipments.c.state)
            ).all()
        yield GaugeMetricFamily(
            "intermodal_inbox_pending", "Inbox messages not yet applied.", value=pending_inbox
        )
        family = GaugeMetricFamily(
            "intermodal_outbox_pending", "Commands waiting for delivery.", labels=["endpoint"]
        )
        for endpoint, count in pending_outbox:
            family.add_metric([endpoint], count)
        yield family
        family = GaugeMetricFamily(
            "intermodal_dead_letters", "Commands in the dead-letter list.", labels=["endpoint"]
        )
        for endpoint, count in dead:
            family.add_metric([endpoint], count)
        yield family
        family = GaugeMetricFamily(
            "intermodal_shipments", "Shipments by current state.", labels=["state"]
        )
        for state, count in states:
            family.add_metric([state or "none"], count)
        yield family


def now() -> float:
    return time.perf_counter()
