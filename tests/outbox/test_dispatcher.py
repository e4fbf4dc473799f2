"""The dispatcher with real HTTP and a real store: several dispatchers, outages, stopping.

Each dispatcher here has its own `Store` (its own connection pool), as a hub node does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from intermodal.config import Settings
from intermodal.outbox import dead_letters
from intermodal.outbox.dispatcher import DeliveryOutcome, Dispatcher
from intermodal.store import open_store
from intermodal.store.tables import dead_letters as dead_letter_rows
from intermodal.store.tables import outbox
from intermodal_sim.testing import serve_in_thread
from tests.outbox.helpers import OrderedReceiver, counts, enqueue_interleaved, until


@pytest.fixture
def receiver() -> Iterator[tuple[OrderedReceiver, str]]:
    r = OrderedReceiver()
    with serve_in_thread(r.app()) as url:
        yield r, f"{url}/hooks"


def settings_for(
    make_settings: Callable[..., Settings],
    url: str,
    endpoint: dict[str, Any] | None = None,
    **d: Any,
) -> Settings:
    delivery = {
        "max_attempts": 3,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "breaker_failures": 1000,
        **d,
    }
    return make_settings(
        {
            "partners": {},
            "endpoints": {"portal": {"url": url, "rate_per_second": 20_000, **(endpoint or {})}},
            "delivery": delivery,
        }
    )


async def run_dispatchers(
    dispatchers: list[Dispatcher], done: Callable[[], bool], timeout: float
) -> None:
    tasks = [asyncio.create_task(d.run()) for d in dispatchers]
    try:
        await until(done, timeout, "the outbox drained")
    finally:
        for d in dispatchers:
            d.stop()
        await asyncio.gather(*tasks)
        for d in dispatchers:
            await d.aclose()


@pytest.mark.parametrize("nodes", [3])
def test_several_dispatchers_keep_every_shipment_in_order_and_send_each_command_once(
    db_url: str,
    make_settings: Callable[..., Settings],
    receiver: tuple[OrderedReceiver, str],
    nodes: int,
) -> None:
    """Three dispatchers on one database, small claims, a flaky and slow endpoint, the
    commands enqueued while they run: every shipment's commands arrive in order, once."""
    rec, url = receiver
    rec.fail_rate, rec.delay = 0.1, 0.004
    settings = settings_for(make_settings, url, max_attempts=50)
    stores = [open_store(db_url) for _ in range(nodes)]
    store = stores[0]
    total = 0

    async def scenario() -> None:
        nonlocal total
        dispatchers = [Dispatcher(s, settings, claim_batch=25) for s in stores]
        tasks = [asyncio.create_task(d.run()) for d in dispatchers]
        try:
            for wave in range(3):  # more commands arrive while they deliver
                total += await asyncio.to_thread(enqueue_interleaved, store, 40, 4, 15, 4 * wave)
                for d in dispatchers:
                    d.wake.set()
                await asyncio.sleep(0.2 * wave)
            await until(lambda: len(rec.received) >= total, 90, "every command delivered")
        finally:
            for d in dispatchers:
                d.stop()
            await asyncio.gather(*tasks)
            for d in dispatchers:
                await d.aclose()

    try:
        asyncio.run(scenario())
        assert len(rec.received) == total == 480 and counts(store).get("dead", 0) == 0
        assert rec.out_of_order() == {}
        assert rec.duplicates == 0
        assert all(len(ns) == 12 for ns in rec.arrivals.values())
    finally:
        for s in stores:
            s.dispose()


def test_an_outage_longer_than_every_attempt_dead_letters_nothing_and_keeps_order(
    db_url: str, make_settings: Callable[..., Settings], receiver: tuple[OrderedReceiver, str]
) -> None:
    """max_attempts x backoff is well under a second; the endpoint is down for 3 s. The
    breaker opens, its failed trials cost no attempts, and everything goes out in order
    once the endpoint is back."""
    rec, url = receiver
    settings = settings_for(
        make_settings, url, breaker_failures=2, breaker_reset_seconds=0.2, max_attempts=3
    )
    store = open_store(db_url)
    try:
        total = enqueue_interleaved(store, 20, 5)
        rec.down_until = time.monotonic() + 3.0
        dispatcher = Dispatcher(store, settings)
        asyncio.run(run_dispatchers([dispatcher], lambda: len(rec.received) >= total, 30))
        assert counts(store) == {"delivered": total, "dead": 0}
        assert rec.out_of_order() == {} and rec.duplicates == 0
        assert rec.requests > 20  # the outage was met, and trials ran during it
        assert dispatcher.stats["dead"] == 0
    finally:
        store.dispose()


def test_a_dead_letter_holds_its_shipments_later_commands_until_replayed(
    db_url: str, make_settings: Callable[..., Settings], receiver: tuple[OrderedReceiver, str]
) -> None:
    rec, url = receiver
    settings = settings_for(make_settings, url)
    store = open_store(db_url)
    try:
        total = enqueue_interleaved(store, 3, 4)
        rec.refuse = {"cmd_SHP-0001_0001"}  # a 400: dead at once
        dispatcher = Dispatcher(store, settings)
        asyncio.run(run_dispatchers([dispatcher], lambda: len(rec.received) >= total - 3, 20))
        assert counts(store) == {"delivered": total - 3, "pending": 2, "dead": 1}
        assert rec.arrivals["SHP-0001"] == [0]  # 2 and 3 wait behind the dead letter
        rec.refuse = set()
        assert dead_letters.replay(store, "test", ["cmd_SHP-0001_0001"]) == 1
        dispatcher = Dispatcher(store, settings)
        asyncio.run(run_dispatchers([dispatcher], lambda: len(rec.received) >= total, 20))
        assert rec.arrivals["SHP-0001"] == [0, 1, 2, 3]
        assert rec.out_of_order() == {} and rec.duplicates == 0
    finally:
        store.dispose()


def test_a_claim_is_renewed_while_it_delivers_and_released_when_the_dispatcher_stops(
    db_url: str, make_settings: Callable[..., Settings], receiver: tuple[OrderedReceiver, str]
) -> None:
    """A 0.3 s lease outlives a 1 s delivery (the heartbeat renews it: no second
    dispatcher takes those commands); stopping sends nothing more and leaves no lease."""
    rec, url = receiver
    rec.delay = 2.0  # up to 2 s per request
    settings = settings_for(make_settings, url, lease_seconds=0.3, concurrency=4)
    first, second = open_store(db_url), open_store(db_url)
    try:
        enqueue_interleaved(first, 10, 3)

        async def scenario() -> list[Any]:
            a = Dispatcher(first, settings)
            b = Dispatcher(second, settings)
            task = asyncio.create_task(a.run())
            await asyncio.sleep(1.2)  # a's leases have been renewed several times
            stolen = await asyncio.to_thread(b._claim)
            a.stop()
            began = time.monotonic()
            await task
            assert time.monotonic() - began < 5
            await a.aclose()
            await b.aclose()
            return list(stolen)

        stolen = asyncio.run(scenario())
        assert stolen == []
        with first.read() as conn:
            rows = conn.execute(select(outbox.c.status, outbox.c.lease_until)).all()
        assert all(lease is None for _, lease in rows)
        delivered = sum(1 for status, _ in rows if status == "delivered")
        assert delivered == len(rec.received) and rec.duplicates == 0
        assert delivered < 30  # the stop came before the pass was done
    finally:
        first.dispose()
        second.dispose()


def test_two_dispatchers_share_the_endpoints_rate_limit(
    db_url: str, make_settings: Callable[..., Settings], receiver: tuple[OrderedReceiver, str]
) -> None:
    """50 a second with a burst of 50: 150 commands take 2 s however many nodes send
    them (two nodes with limits of their own would take 0.5 s)."""
    rec, url = receiver
    settings = settings_for(make_settings, url, endpoint={"rate_per_second": 50})
    stores = [open_store(db_url), open_store(db_url)]
    try:
        total = enqueue_interleaved(stores[0], 150, 1)
        dispatchers = [Dispatcher(s, settings, claim_batch=10) for s in stores]
        began = time.monotonic()
        asyncio.run(run_dispatchers(dispatchers, lambda: len(rec.received) >= total, 30))
        elapsed = time.monotonic() - began
        assert all(d.stats["delivered"] > 0 for d in dispatchers)  # both sent
        assert elapsed >= 1.6, elapsed
    finally:
        for s in stores:
            s.dispose()


def test_one_node_seeing_the_endpoint_down_opens_the_breaker_for_all(
    db_url: str, make_settings: Callable[..., Settings], receiver: tuple[OrderedReceiver, str]
) -> None:
    rec, url = receiver
    settings = settings_for(
        make_settings, url, breaker_failures=2, breaker_reset_seconds=30, max_attempts=50
    )
    first, second = open_store(db_url), open_store(db_url)
    try:
        enqueue_interleaved(first, 4, 1, first_step=0)
        rec.down_until = time.monotonic() + 60

        async def scenario() -> tuple[int, int]:
            a, b = Dispatcher(first, settings), Dispatcher(second, settings)
            await a.run_once()  # four 503s: a's breaker opens, and so the shared one
            seen = rec.requests
            await asyncio.to_thread(enqueue_interleaved, first, 4, 1, 50, 1)
            for _ in range(3):
                await b.run_once()
                await asyncio.sleep(0.1)
            await a.aclose()
            await b.aclose()
            return seen, b.stats["deferred"]

        seen, deferred = asyncio.run(scenario())
        assert 2 <= seen <= 4
        assert rec.requests == seen  # b never called the endpoint
        assert deferred > 0
    finally:
        first.dispose()
        second.dispose()


def test_a_dispatcher_paused_past_its_claim_neither_records_nor_renews_over_the_next(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    """A claims; its lease runs out (a long GC pause, a frozen VM); B claims the same
    commands. A's late heartbeat must not touch B's lease, and A's late outcomes (a dead
    letter here) must not be written: B delivers and records them."""
    settings = settings_for(make_settings, "http://127.0.0.1:9/hooks")
    first, second = open_store(db_url), open_store(db_url)
    try:
        enqueue_interleaved(first, 2, 1)
        a, b = Dispatcher(first, settings), Dispatcher(second, settings)
        claimed = a._claim()
        assert len(claimed) == 2
        seqs = [row.seq for row in claimed]
        with first.write() as conn:  # A's lease runs out
            conn.execute(update(outbox).values(lease_until="2000-01-01T00:00:00.000000Z"))
        assert [row.seq for row in b._claim()] == seqs
        with first.read() as conn:
            b_leases = dict(conn.execute(select(outbox.c.seq, outbox.c.lease_until)).all())

        a._renew(seqs)  # late heartbeat
        a._record(
            {row.seq: row for row in claimed},
            [DeliveryOutcome(seq, "dead", "refused") for seq in seqs],
        )
        with first.read() as conn:
            rows = dict(conn.execute(select(outbox.c.seq, outbox.c.lease_until)).all())
            assert conn.execute(select(func.count()).select_from(dead_letter_rows)).scalar() == 0
        assert rows == b_leases  # untouched: still B's claim

        b._record(
            {row.seq: row for row in claimed}, [DeliveryOutcome(seq, "delivered") for seq in seqs]
        )
        with first.read() as conn:
            statuses = conn.execute(select(outbox.c.status)).scalars().all()
        assert statuses == ["delivered", "delivered"]
        asyncio.run(a.aclose())
        asyncio.run(b.aclose())
    finally:
        first.dispose()
        second.dispose()
