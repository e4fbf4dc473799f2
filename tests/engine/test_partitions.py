"""Partitioned apply (engine/partitions.py) on a real SQLite file and a real PostgreSQL
database: partition leases shared fairly and fenced, and several appliers side by side
applying what one applier would, each message once, each shipment's messages in order."""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from intermodal.config import Settings
from intermodal.engine.applier import Applier
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.engine.partitions import (
    SPAN,
    PartitionOwner,
    check_partitions,
    fenced,
    partition_of,
    route,
)
from intermodal.errors import ConfigurationError
from intermodal.observe.metrics import Metrics
from intermodal.store import Store, open_store
from intermodal.store.tables import events, inbox, leases, shipments
from tests.conftest import new_secret
from tests.engine.test_engine import message, milestone

START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
P = 8
MILESTONES = ("picked_up", "in_transit", "out_for_delivery", "delivered")


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.dispose()


# -- hashing -------------------------------------------------------------------------------
def test_a_shipment_key_hashes_to_the_same_partition_in_every_process() -> None:
    """CRC-32, not Python's per-process salted `hash`: fixed values, for every node."""
    assert [partition_of(k, 64) for k in ("SHP-1", "SHP-2", "ORD-77")] == [
        zlib.crc32(k) % 64 for k in (b"SHP-1", b"SHP-2", b"ORD-77")
    ]
    assert partition_of("SHP-1", 64) == 49


@given(st.lists(st.text(min_size=1, max_size=20), max_size=8), st.integers(1, 128))
def test_a_message_is_routed_to_its_shipments_partition_or_spans(
    subjects: list[str], partitions: int
) -> None:
    found = route(subjects, partitions)
    distinct = {partition_of(s, partitions) for s in subjects}
    if not subjects:
        assert found is None
    elif len(distinct) == 1:
        assert found == distinct.pop() and 0 <= found < partitions
    else:
        assert found == SPAN


def test_the_partition_count_cannot_change_under_pending_messages(store: Store) -> None:
    check_partitions(store, 64)
    check_partitions(store, 64)
    store_messages(store, [_routed("m-1", "SHP-1", 64)])
    with pytest.raises(ConfigurationError, match="routed for 64 partitions"):
        check_partitions(store, 32)
    with store.write() as conn:
        conn.execute(update(inbox).values(status="applied"))
    check_partitions(store, 32)  # drained: the new count is recorded
    with pytest.raises(ConfigurationError):
        store_messages(store, [_routed("m-2", "SHP-2", 32)])
        check_partitions(store, 64)


# -- leases --------------------------------------------------------------------------------
def test_appliers_share_the_partitions_and_take_over_a_dead_ones(store: Store) -> None:
    clock = FakeClock()
    a = PartitionOwner(store, P, ttl_seconds=10, holder="node-a:1:x", clock=clock)
    b = PartitionOwner(store, P, ttl_seconds=10, holder="node-b:1:x", clock=clock)
    assert a.step() and a.holds_all  # alone: everything
    assert not b.step() and b.held == {}  # joins: a holds them all
    a.step()  # a sees two members and lets half go
    assert len(a.held) == P // 2
    assert b.step() and len(b.held) == P // 2
    assert set(a.held).isdisjoint(b.held)
    for _ in range(3):  # steady: nobody moves
        a.step()
        b.step()
    assert len(a.held) == len(b.held) == P // 2
    stale = b.held
    clock.now += timedelta(seconds=11)  # b stops renewing (dead, paused): its leases expire
    a.step()  # a's share is everything again: b's membership expired with them
    assert a.holds_all
    with store.write() as conn:  # b wakes up: its tokens no longer hold
        assert not fenced(conn, stale, clock)
        assert fenced(conn, a.held, clock)
    b.step()
    assert b.held == {}


def test_a_stopped_applier_hands_its_partitions_over_at_once(store: Store) -> None:
    a = PartitionOwner(store, P, ttl_seconds=60, holder="node-a:1:x")
    b = PartitionOwner(store, P, ttl_seconds=60, holder="node-b:1:x")
    a.step()
    b.step()
    a.step()
    b.step()
    assert len(a.held) == len(b.held) == P // 2
    a.stop()
    b.step()
    assert b.holds_all


def test_three_appliers_converge_to_fair_shares(store: Store) -> None:
    owners = [PartitionOwner(store, 64, 30, holder=f"node-{k}:1:x") for k in range(3)]
    for _ in range(4):
        for owner in owners:
            owner.step()
    sizes = sorted(len(o.held) for o in owners)
    assert sum(sizes) == 64 and sizes[-1] - sizes[0] <= 2
    held = [set(o.held) for o in owners]
    assert not (held[0] & held[1] or held[0] & held[2] or held[1] & held[2])


def test_a_lost_partition_refuses_the_batch_deciding_on_it(
    store: Store, make_settings: Callable[..., Settings]
) -> None:
    """A paused applier whose lease was taken writes nothing of the batch it decided."""
    settings = make_settings(_config(), env=_ENV)
    clock = FakeClock()
    owner = PartitionOwner(store, P, ttl_seconds=10, holder="node-a:1:x", clock=clock)
    owner.step()
    store_messages(store, [_routed("m-1", "SHP-1", P)])
    applier = Applier(store, settings, owner=owner)
    held = owner.held
    clock.now += timedelta(seconds=11)
    other = PartitionOwner(store, P, ttl_seconds=10, holder="node-b:1:x", clock=clock)
    other.step()
    assert other.holds_all
    owner._held = held  # as if the renew had not been noticed yet
    assert applier.run_once().messages == 0
    assert _status(store, "m-1") == "pending"  # not rejected, not applied: dropped


# -- appliers side by side ----------------------------------------------------------------
def test_appliers_side_by_side_apply_what_one_applier_would(
    store: Store, db_url: str, make_settings: Callable[..., Settings]
) -> None:
    """Three appliers, each with its own store and leases, on a shuffled stream of
    webhooks (routed at ingest), unrouted ones (routed by the appliers) and spanning ones,
    with duplicates: every message applied once, each shipment's events recorded in inbox
    order, and the same state as one applier gives on the same stream."""
    settings = make_settings(_config(partitions=P), env=_ENV)
    messages = _stream(random.Random(7), shipments_count=40, count=400)
    store_messages(store, messages)
    stores = [open_store(db_url, migrate=False) for _ in range(3)]
    owners = [
        PartitionOwner(s, P, ttl_seconds=10, holder=f"node-{k}:1:x") for k, s in enumerate(stores)
    ]
    appliers = [
        Applier(s, settings, batch=50, owner=o) for s, o in zip(stores, owners, strict=True)
    ]
    for _ in range(3):  # shares settle before anyone applies
        for owner in owners:
            owner.step()
    assert all(owner.held for owner in owners)
    stop = threading.Event()

    def run(applier: Applier, owner: PartitionOwner) -> None:
        while not stop.is_set():
            owner.step()
            while True:
                result = applier.run_once()
                if not (result.messages or result.routed):
                    break
            time.sleep(0.02)

    threads = [
        threading.Thread(target=run, args=(a, o)) for a, o in zip(appliers, owners, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while _pending(store) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for s in stores:
            s.dispose()
    assert _pending(store) == 0
    assert all(a.totals.messages for a in appliers)  # all three took part
    with store.read() as conn:
        statuses = dict(conn.execute(select(inbox.c.message_id, inbox.c.status)).all())
        recorded = conn.execute(
            select(events.c.subject, events.c.inbox_seq).order_by(events.c.seq)
        ).all()
        by_message = conn.execute(select(events.c.inbox_seq, events.c.event_id)).all()
        state = _shipments(conn)
    assert set(statuses.values()) == {"applied"}
    assert len({(seq, eid) for seq, eid in by_message}) == len(by_message)  # once each
    for subject in {s for s, _ in recorded}:
        seqs = [seq for s, seq in recorded if s == subject]
        assert seqs == sorted(seqs), f"{subject}: events not in inbox order"
    # One applier alone on a copy of the stream gives the same shipments.
    with store.write() as conn:
        conn.execute(update(inbox).values(status="pending"))
        conn.execute(events.delete())
        conn.execute(shipments.delete())
        conn.execute(leases.delete())
    alone = Applier(store, settings, batch=50)
    while alone.run_once().messages:
        pass
    with store.read() as conn:
        assert _shipments(conn) == state


# -- helpers -------------------------------------------------------------------------------
def _config(partitions: int = P) -> dict[str, Any]:
    return {
        "hub": {"partitions": partitions},
        "partners": {
            "acme": {"webhook_secrets": ["env:ACME_S"]},
            "wms": {"webhook_secrets": ["env:WMS_S"]},
        },
    }


_ENV = {"ACME_S": new_secret(), "WMS_S": new_secret()}


def _routed(message_id: str, subject: str, partitions: int) -> InboxMessage:
    m = message("acme", message_id, milestone(f"e-{message_id}", subject, "picked_up", _at(0)))
    m.partition = partition_of(subject, partitions)
    return m


def _at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stream(rng: random.Random, shipments_count: int, count: int) -> list[InboxMessage]:
    """Milestones of `shipments_count` shipments in a shuffled order: most routed at
    ingest, a fifth unrouted, one in twenty spanning two shipments, a tenth re-sent."""
    out: list[InboxMessage] = []
    for n in range(count):
        subject = f"SHP-{rng.randrange(shipments_count)}"
        name = rng.choice(MILESTONES)
        at = _at(rng.randrange(600))
        partner = rng.choice(("acme", "wms"))
        evs = [milestone(f"e-{n}", subject, name, at, source=partner)]
        if rng.random() < 0.05:
            other = f"SHP-{rng.randrange(shipments_count)}"
            evs.append(milestone(f"e-{n}-b", other, rng.choice(MILESTONES), at, partner))
        m = message(partner, f"m-{n}", *evs)
        if rng.random() >= 0.2:
            m.partition = route([e["subject"] for e in evs], P)
        out.append(m)
        if rng.random() < 0.1:
            out.append(m)  # a re-delivery: the same message id
    return out


def _pending(store: Store) -> int:
    with store.read() as conn:
        return len(conn.execute(select(inbox.c.seq).where(inbox.c.status == "pending")).all())


def _status(store: Store, message_id: str) -> str:
    with store.read() as conn:
        return str(
            conn.execute(select(inbox.c.status).where(inbox.c.message_id == message_id)).scalar()
        )


def _shipments(conn: Any) -> dict[str, tuple[Any, ...]]:
    return {
        r.key: (r.state, r.state_at, r.events_count, r.duplicate_count, r.late_count)
        for r in conn.execute(select(shipments))
    }


def test_a_dead_nodes_partitions_move_within_the_lease_time(store: Store) -> None:
    """A node on another machine dies without letting go: its partitions are free once
    its leases expire, and a survivor (trying every half second while short of its
    share) holds them all within the ttl plus one try."""
    ttl = 2.0
    dead = PartitionOwner(store, P, ttl_seconds=ttl, holder="elsewhere:1:x")
    survivor = PartitionOwner(store, P, ttl_seconds=ttl, holder="node-b:1:x")
    dead.step()
    survivor.step()
    dead.step()  # shares settle: half each
    survivor.step()
    assert len(survivor.held) == P // 2
    died = time.monotonic()  # `dead` never steps again
    survivor.start()
    try:
        while not survivor.holds_all and time.monotonic() - died < 3 * ttl:
            time.sleep(0.05)
        moved = time.monotonic() - died
    finally:
        survivor.stop()
    assert survivor.changed.is_set()
    assert moved <= ttl + 1.0, f"partitions moved after {moved:.2f}s"


def test_metrics_show_the_appliers_the_partitions_they_hold_and_the_unrouted_backlog(
    store: Store,
) -> None:
    a = PartitionOwner(store, P, ttl_seconds=30, holder="node-a:1:x")
    b = PartitionOwner(store, P, ttl_seconds=30, holder="node-b:1:x")
    for owner in (a, b, a, b):
        owner.step()
    unrouted = message("acme", "m-1", milestone("e-1", "SHP-1", "picked_up", _at(0)))
    store_messages(store, [unrouted, _routed("m-2", "SHP-2", P)])
    text = Metrics(store).render().decode()
    assert "intermodal_appliers 2.0" in text
    assert f"intermodal_partitions_held {float(P)}" in text
    assert "intermodal_inbox_unrouted 1.0" in text
    assert "intermodal_inbox_pending 2.0" in text
    b.stop()
    text = Metrics(store).render().decode()
    assert "intermodal_appliers 1.0" in text
    assert f"intermodal_partitions_held {float(P // 2)}" in text
