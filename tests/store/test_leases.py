"""Leases (store/leases.py) as a state machine: nodes acquire, renew, release and check
their fencing token while a fake clock moves, on SQLite and PostgreSQL; the store must
agree at every step with a model of one lease row. Then the parts a model cannot show:
real threads racing for one lease, a writer's `still_holds` holding off a takeover until
its transaction ends, and the keeper stepping down on its own.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete

from intermodal.store import Store, open_store
from intermodal.store.leases import Lease, LeaseKeeper, Leases, node_id, still_holds
from intermodal.store.tables import leases

TTL = 10.0
NODES = ("node-a", "node-b", "node-c")
START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.dispose()


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Row:
    """The model of the one lease row."""

    holder: str
    token: int
    expires: datetime


def run_machine(store: Store) -> None:
    class LeaseMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with store.write() as conn:
                conn.execute(delete(leases))
            self.clock = FakeClock()
            self.nodes = {n: Leases(store, n, TTL, self.clock) for n in NODES}
            self.held: dict[str, Lease | None] = dict.fromkeys(NODES)
            self.row: Row | None = None
            self.tokens: list[int] = []

        def holds(self, node: str) -> bool:
            lease, row = self.held[node], self.row
            return (
                lease is not None
                and row is not None
                and row.holder == node
                and row.token == lease.token
                and row.expires > self.clock.now
            )

        @rule(node=st.sampled_from(NODES))
        def acquire(self, node: str) -> None:
            row, now = self.row, self.clock.now
            free = row is None or row.expires <= now
            got = self.nodes[node].acquire("leader")
            assert (got is not None) == free, (node, row, now)
            if got is not None:
                token = 1 if row is None else row.token + 1
                assert got.token == token, "every acquisition bumps the token by one"
                assert all(got.token > t for t in self.tokens)
                self.tokens.append(got.token)
                self.row = Row(node, token, now + timedelta(seconds=TTL))
                self.held[node] = got

        @precondition(lambda self: any(self.held.values()))
        @rule(data=st.data())
        def renew(self, data: st.DataObject) -> None:
            node = data.draw(st.sampled_from([n for n in NODES if self.held[n] is not None]))
            lease = self.held[node]
            assert lease is not None
            expected = self.holds(node)
            renewed = self.nodes[node].renew(lease)
            assert (renewed is not None) == expected, "a stale or expired holder cannot renew"
            if renewed is not None:
                assert renewed.token == lease.token
                assert self.row is not None
                self.row.expires = self.clock.now + timedelta(seconds=TTL)
                self.held[node] = renewed

        @precondition(lambda self: any(self.held.values()))
        @rule(data=st.data())
        def release(self, data: st.DataObject) -> None:
            node = data.draw(st.sampled_from([n for n in NODES if self.held[n] is not None]))
            lease = self.held[node]
            assert lease is not None
            expected = self.holds(node)
            assert self.nodes[node].release(lease) == expected
            if expected:
                assert self.row is not None
                self.row.expires = self.clock.now

        @precondition(lambda self: any(self.held.values()))
        @rule(data=st.data())
        def write_with_fencing(self, data: st.DataObject) -> None:
            node = data.draw(st.sampled_from([n for n in NODES if self.held[n] is not None]))
            lease = self.held[node]
            assert lease is not None
            with store.write() as conn:
                assert still_holds(conn, "leader", lease.token, self.clock) == self.holds(node)

        @rule(
            seconds=st.one_of(
                st.sampled_from([TTL, TTL / 3]), st.integers(0, 15_000).map(lambda ms: ms / 1000)
            )
        )
        def advance(self, seconds: float) -> None:
            self.clock.now += timedelta(seconds=seconds)

        @invariant()
        def the_store_names_the_models_holder(self) -> None:
            current = self.nodes[NODES[0]].current("leader")
            row, now = self.row, self.clock.now
            if row is None or row.expires <= now:
                assert current is None
            else:
                assert current is not None
                assert (current.holder, current.token) == (row.holder, row.token)
                assert current.seconds_left == pytest.approx((row.expires - now).total_seconds())

        @invariant()
        def at_most_one_node_holds_it(self) -> None:
            assert sum(self.holds(n) for n in NODES) <= 1

    run_state_machine_as_test(
        LeaseMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_leases_behave_like_the_model(store: Store) -> None:
    run_machine(store)


def test_racing_nodes_get_one_lease(store: Store) -> None:
    """Eight nodes try for a free lease at once: one gets it, token 1."""
    barrier = threading.Barrier(8)
    won: list[Lease] = []

    def contend(n: int) -> None:
        mine = Leases(store, f"racer-{n}", TTL)
        barrier.wait()
        got = mine.acquire("partition:17")
        if got is not None:
            won.append(got)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and won[0].token == 1
    current = Leases(store, "reader").current("partition:17")
    assert current is not None and current.holder == won[0].holder


def test_a_writer_checking_its_token_holds_off_a_takeover(store: Store) -> None:
    """A paused holder whose lease has run out elsewhere: while its write transaction has
    checked the token, a takeover waits for it; after the takeover the old token fails."""
    old_clock, late_clock = FakeClock(), FakeClock(START + timedelta(seconds=TTL + 1))
    lease = Leases(store, "paused", TTL, old_clock).acquire("leader")
    assert lease is not None
    taken: list[tuple[float, Lease | None]] = []

    def take_over() -> None:
        got = Leases(store, "waker", TTL, late_clock).acquire("leader")
        taken.append((time.monotonic(), got))

    with store.write() as conn:
        assert still_holds(conn, "leader", lease.token, old_clock)
        thief = threading.Thread(target=take_over)
        thief.start()
        time.sleep(0.3)
        assert taken == [], "the takeover committed while a fenced write was open"
        committed = time.monotonic()
    thief.join()
    (at, got) = taken[0]
    assert got is not None and got.token == lease.token + 1 and at >= committed
    with store.write() as conn:
        assert not still_holds(conn, "leader", lease.token, late_clock)
        assert still_holds(conn, "leader", got.token, late_clock)


def test_the_keeper_steps_down_when_paused_past_expiry_or_refused(store: Store) -> None:
    clock, ticks = FakeClock(), [0.0]
    events: list[str] = []

    async def gained(lease: Lease) -> None:
        events.append(f"gained {lease.token}")

    async def lost(lease: Lease, why: str) -> None:
        events.append(f"lost {lease.token}: {why}")

    async def scenario() -> None:
        keeper = LeaseKeeper(
            Leases(store, "keeper", TTL, clock), "leader", gained, lost, monotonic=lambda: ticks[0]
        )
        await keeper.step()
        assert keeper.lease is not None and events == ["gained 1"]
        ticks[0] += 3
        clock.now += timedelta(seconds=3)
        await keeper.step()  # renewed
        assert keeper.lease is not None and len(events) == 1
        ticks[0] += TTL + 5  # a pause: the lease ran out meanwhile, nobody took it
        clock.now += timedelta(seconds=TTL + 5)
        await keeper.step()
        assert keeper.lease is None and events[-1].startswith("lost 1: the lease ran out")
        await keeper.step()  # takes it again, with a new token
        assert events[-1] == "gained 2"
        other = Leases(store, "other", TTL, clock)
        clock.now += timedelta(seconds=TTL)  # by the store's clock it expired...
        assert other.acquire("leader") is not None  # ...and another node took it
        await keeper.step()  # ...while this process's clock thought it still had time
        assert keeper.lease is None and events[-1].startswith("lost 2: renew refused")
        await keeper.step()
        assert keeper.lease is None, "a held lease cannot be taken"

    asyncio.run(scenario())


def test_the_keeper_steps_down_before_expiry_when_a_renew_hangs(store: Store) -> None:
    class Hanging(Leases):
        hang = False

        def renew(self, lease: Lease) -> Lease | None:
            if self.hang:
                time.sleep(3)
            return super().renew(lease)

    lost: list[str] = []

    async def gained(lease: Lease) -> None:
        return None

    async def on_lost(lease: Lease, why: str) -> None:
        lost.append(why)

    async def scenario() -> None:
        leases = Hanging(store, "slow", ttl_seconds=2.0)
        keeper = LeaseKeeper(leases, "leader", gained, on_lost)
        began = time.monotonic()  # before the store stamped the lease's start
        await keeper.step()
        assert keeper.lease is not None
        leases.hang = True
        await keeper.step()
        assert keeper.lease is None and lost and "did not answer" in lost[0]
        # the store's expiry is 2 s after `began` or later; allow the event loop a moment
        assert time.monotonic() - began < 2.0 + 0.2, "stepped down after the lease ran out"

    asyncio.run(scenario())


def test_a_keeper_cancelled_as_its_renew_returns_stops(store: Store) -> None:
    """A hub stops by cancelling its keeper. A renew that finishes just as the cancel
    arrives must not swallow it, or the stop waits for the election forever. The renew's
    result reaches the keeper over a few turns of the loop; the cancel comes at each."""

    class Handing(Leases):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.renewed = threading.Event()
            self.go = threading.Event()

        def renew(self, lease: Lease) -> Lease | None:
            result = super().renew(lease)
            self.renewed.set()
            self.go.wait(5)
            return result

    async def gained(lease: Lease) -> None:
        return None

    async def lost(lease: Lease, why: str) -> None:
        return None

    async def cancelled_after(turns: int) -> bool:
        leases = Handing(store, f"busy-{turns}", ttl_seconds=30.0)
        keeper = LeaseKeeper(leases, f"leader-{turns}", gained, lost, renew_every=0.01)
        await keeper.step()
        assert keeper.lease is not None
        task = asyncio.create_task(keeper.run())
        while not leases.renewed.is_set():
            await asyncio.sleep(0.001)
        leases.go.set()
        time.sleep(0.05)  # the loop is held: the renew's result is queued when it turns
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=3)
        while not task.done():  # the keeper swallowed the cancel: end it for the next try
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        return task in done and task.cancelled()

    async def scenario() -> None:
        went_on = [turns for turns in range(8) if not await cancelled_after(turns)]
        assert not went_on, f"the keeper went on after a cancel {went_on} turns in"

    asyncio.run(scenario())


def test_node_id_is_stable_for_the_process() -> None:
    assert node_id() == node_id()
    host, pid, rand = node_id().rsplit(":", 2)
    assert host and pid.isdigit() and len(rand) == 8


def test_a_holder_gone_from_this_machine_frees_its_lease_at_once(store: Store) -> None:
    """A node killed on this machine (SIGKILL: no release) does not make the next one
    wait out a 60 s lease; a holder elsewhere, or alive here, still does."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        here = f"{socket.gethostname()}:{child.pid}:x"
        assert Leases(store, here, 60).acquire("leader") is not None
        elsewhere = Leases(store, "other-host:1:x", 60)
        assert elsewhere.acquire("leader") is None  # the holder runs
        child.kill()
        child.wait()
        lease = elsewhere.acquire("leader")
        assert lease is not None and lease.token == 2
        assert Leases(store, "third:1:x", 60).acquire("leader") is None  # not on this host
    finally:
        child.kill()
        child.wait()
