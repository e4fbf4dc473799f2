"""Leases: one holder at a time for a named job, with fencing tokens.

A lease is a row of `leases`: who holds it (a node id), a fencing token that grows by one
on every acquisition, and when it expires. The holder renews it well before it expires
(`LeaseKeeper`: every third of the ttl); a holder that stops renewing (dead, paused, cut
off from the database) loses it at expiry, and any node may then take it. Each operation
is one short transaction on one row:

- acquire: an upsert whose update happens only when the row has expired;
- renew: an update only while the row still carries our token and has not expired;
- release: the row expires now, so another node takes it without waiting.

The token fences. A writer that may only act while it holds a lease calls `still_holds`
in its own write transaction: on PostgreSQL that reads the row `FOR SHARE`, so no
acquisition commits in between; on SQLite the writer already holds the database's one
write lock. A node paused past its expiry that wakes up finds its renew refused and its
token stale.

Expiry is judged by the database's clock on PostgreSQL, so the nodes' clocks may
disagree, and by the machine's clock on SQLite (one machine); tests pass a clock.

The hub's singletons hold the lease `leader` (hub.py); partitions can hold one lease each
(`partition:17`) with the same calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from intermodal.engine.ids import iso, parse_iso, utcnow
from intermodal.store.store import Store
from intermodal.store.tables import leases

log = logging.getLogger(__name__)

LEADER = "leader"
"""The lease of the hub's singletons: timers, pollers, sync, reconciliation, retention."""

Clock = Callable[[], datetime]

_node: tuple[int, str] | None = None


def node_id() -> str:
    """This process's name in `leases.holder`: host, pid and a random part (a restarted
    process with a recycled pid is still someone else); stable for the process, new in
    a forked child."""
    global _node
    pid = os.getpid()
    if _node is None or _node[0] != pid:
        _node = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}")
    return _node[1]


def gone_from_here(holder: str) -> bool:
    """Whether `holder` (a `node_id()`) names a process of this machine that is gone (a
    crash, a SIGKILL): its leases need not wait out their ttl. A pid now reused by
    another process looks alive and the lease simply expires; a holder wrongly judged
    gone (a pid of another pid namespace with the same host name) loses its lease as any
    holder whose lease was taken does, and its token no longer fences."""
    host, _, rest = holder.partition(":")
    if host != socket.gethostname():
        return False
    try:
        pid = int(rest.split(":", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, not ours to signal
        return False
    return False


def free_gone(conn: Connection, holders: Iterable[str], at: str) -> list[str]:
    """Of `holders`, those gone from this machine (`gone_from_here`): their leases expire
    at `at`, so the next holder need not wait out their ttl. Returns them."""
    gone = [holder for holder in holders if gone_from_here(holder)]
    if gone:
        conn.execute(
            update(leases)
            .where(leases.c.holder.in_(gone), leases.c.expires_at > at)
            .values(expires_at=at)
        )
    return gone


def _held(lease: Lease, at: str) -> tuple[ColumnElement[bool], ...]:
    """The row is still `lease`'s own: same holder and token, not expired at `at`."""
    return (
        leases.c.name == lease.name,
        leases.c.holder == lease.holder,
        leases.c.token == lease.token,
        leases.c.expires_at > at,
    )


def take(conn: Connection, names: list[str], holder: str, at: str, until: str) -> dict[str, int]:
    """Acquire each of `names` nobody holds at `at` (absent, expired or released) for
    `holder` until `until`, in one statement; returns those taken with their new fencing
    tokens (one more than the previous holder's)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(leases)
    statement = insert.values(
        [
            {
                "name": name,
                "holder": holder,
                "token": 1,
                "acquired_at": at,
                "renewed_at": at,
                "expires_at": until,
            }
            for name in names
        ]
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={
            "holder": statement.excluded.holder,
            "token": leases.c.token + 1,
            "acquired_at": statement.excluded.acquired_at,
            "renewed_at": statement.excluded.renewed_at,
            "expires_at": statement.excluded.expires_at,
        },
        where=leases.c.expires_at <= at,
    ).returning(leases.c.name, leases.c.token)
    return {row.name: int(row.token) for row in conn.execute(upsert)}


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    """The fencing token: one more than the previous holder's."""
    expires_at: str
    seconds_left: float
    """Until expiry, by the store's clock, when this was read or written."""


_CLOCK = text("SELECT clock_timestamp()")


def store_now(conn: Connection, clock: Clock | None = None) -> datetime:
    """The time leases are judged by: `clock` if given, else PostgreSQL's clock (one
    clock for every node), else this machine's (SQLite: one machine)."""
    if clock is not None:
        return clock()
    if conn.dialect.name == "postgresql":
        now: datetime = conn.execute(_CLOCK).scalar_one()
        return now
    return utcnow()


def still_holds(conn: Connection, name: str, token: int, clock: Clock | None = None) -> bool:
    """Whether the lease `name` is still held with `token`, checked inside the caller's
    write transaction: call it there, and write only when it says True. The row stays
    locked against a new acquisition until that transaction ends."""
    query = select(leases.c.token, leases.c.expires_at).where(leases.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = conn.execute(query).first()
    return row is not None and row.token == token and row.expires_at > iso(store_now(conn, clock))


class Leases:
    """Acquire, renew, release and read leases as one holder (`node_id()` by default)."""

    def __init__(
        self,
        store: Store,
        holder: str | None = None,
        ttl_seconds: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.holder = holder or node_id()
        self.ttl = timedelta(seconds=ttl_seconds)
        self.clock = clock

    def acquire(self, name: str) -> Lease | None:
        """Take `name` if nobody holds it (absent, expired or released); every acquisition
        bumps the token. None while a lease runs, ours included: two keepers in one
        process share a holder name, and only the token tells their terms apart."""
        with self.store.write() as conn:
            now = store_now(conn, self.clock)
            at, until = iso(now), iso(now + self.ttl)
            holder = conn.execute(
                select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at > at)
            ).scalar()
            if holder is not None:  # crashed on this machine: free now
                free_gone(conn, [holder], at)
            token = take(conn, [name], self.holder, at, until).get(name)
        if token is None:
            return None
        return Lease(name, self.holder, int(token), until, self.ttl.total_seconds())

    def renew(self, lease: Lease) -> Lease | None:
        """Extend `lease` by the ttl from now; None when it expired or was taken."""
        with self.store.write() as conn:
            now = store_now(conn, self.clock)
            at, until = iso(now), iso(now + self.ttl)
            renewed = conn.execute(
                update(leases)
                .where(*_held(lease, at))
                .values(renewed_at=at, expires_at=until)
                .returning(leases.c.token)
            ).first()
        if renewed is None:
            return None
        return Lease(lease.name, lease.holder, lease.token, until, self.ttl.total_seconds())

    def release(self, lease: Lease) -> bool:
        """Let `lease` expire now (the token stays, so the next holder's is higher);
        False when it was no longer ours."""
        with self.store.write() as conn:
            at = iso(store_now(conn, self.clock))
            released = conn.execute(
                update(leases)
                .where(*_held(lease, at))
                .values(expires_at=at)
                .returning(leases.c.token)
            ).first()
        return released is not None

    def current(self, name: str) -> Lease | None:
        """Who holds `name` now; None when nobody does."""
        with self.store.read() as conn:
            now = store_now(conn, self.clock)
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        if row is None or row.expires_at <= iso(now):
            return None
        left = (parse_iso(row.expires_at) - now).total_seconds()
        return Lease(name, row.holder, int(row.token), row.expires_at, left)


class LeaseKeeper:
    """Holds one lease for as long as it can: takes it when free, renews it every
    `renew_every` seconds (a third of the ttl by default), and calls `on_gained` and
    `on_lost` when that changes.

    It gives the lease up on its own before the store would let another node take it:
    when a renew is refused, and when the store has not answered a renew in time to try
    again before the lease runs out (measured on this process's monotonic clock from
    when the last good renew was sent). A follower retries every `renew_every`, and just
    after the holder's expiry when that comes sooner.
    """

    def __init__(
        self,
        leases: Leases,
        name: str,
        on_gained: Callable[[Lease], Awaitable[None]],
        on_lost: Callable[[Lease, str], Awaitable[None]],
        renew_every: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases = leases
        self.name = name
        self.on_gained = on_gained
        self.on_lost = on_lost
        self.ttl = leases.ttl.total_seconds()
        self.renew_every = renew_every if renew_every is not None else self.ttl / 3
        self.monotonic = monotonic
        self.lease: Lease | None = None
        self._valid_until = float("-inf")
        self._next_try = self.renew_every

    async def step(self) -> None:
        """One round: acquire when not holding, renew when holding."""
        self._next_try = self.renew_every
        if self.lease is None:
            await self._try_acquire()
            return
        if self.monotonic() >= self._valid_until:  # paused past expiry: act on nothing
            await self._lose("the lease ran out before it was renewed")
            return
        sent = self.monotonic()
        try:  # a renew that hangs past the expiry is a renew that failed
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when
            # the renew finishes just as the keeper is cancelled, and the cancel is lost (a
            # hub's stop then waits for its election forever).
            async with asyncio.timeout(self._valid_until - sent):
                renewed = await asyncio.to_thread(self.leases.renew, self.lease)
        except Exception as error:
            if self.monotonic() + self.renew_every >= self._valid_until:
                await self._lose(f"the store did not answer ({error!r})")
            else:
                log.warning("lease %s: renew failed, retrying: %r", self.name, error)
            return
        if renewed is None:
            await self._lose("renew refused: the lease expired or was taken")
            return
        self.lease = renewed
        self._valid_until = sent + self.ttl

    async def _try_acquire(self) -> None:
        sent = self.monotonic()
        try:
            lease = await asyncio.to_thread(self.leases.acquire, self.name)
            if lease is None:
                holder = await asyncio.to_thread(self.leases.current, self.name)
                if holder is not None:  # try again just after it expires
                    self._next_try = min(self.renew_every, max(holder.seconds_left, 0) + 0.05)
                return
        except Exception as error:
            log.warning("lease %s: acquire failed: %s", self.name, error)
            return
        self.lease = lease
        self._valid_until = sent + self.ttl
        await self.on_gained(lease)

    async def _lose(self, why: str) -> None:
        lease, self.lease = self.lease, None
        self._valid_until = float("-inf")
        if lease is not None:
            await self.on_lost(lease, why)

    async def run(self) -> None:
        """Keep stepping until cancelled. A step that fails in `on_gained` or `on_lost`
        is logged and the next one goes on: a keeper that stopped renewing while its
        holder's work went on would be the one thing a lease must prevent."""
        while True:
            await asyncio.sleep(self._next_try)
            try:
                await self.step()
            except Exception:
                log.exception("lease %s: a step failed; trying again", self.name)

    async def release(self) -> None:
        """Stop holding: `on_lost` first (the holder's work stops), then the row expires
        so another node takes over at its next try."""
        lease = self.lease
        if lease is None:
            return
        await self._lose("stopping")
        try:
            await asyncio.to_thread(self.leases.release, lease)
        except Exception as error:  # it expires on its own
            log.warning("lease %s: release failed: %s", self.name, error)


__all__ = [
    "LEADER",
    "Lease",
    "LeaseKeeper",
    "Leases",
    "free_gone",
    "gone_from_here",
    "node_id",
    "still_holds",
    "store_now",
    "take",
]
