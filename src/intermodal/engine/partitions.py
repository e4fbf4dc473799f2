"""Partitions: appliers on several processes and nodes apply disjoint sets of shipments.

Every inbox message belongs to the partition of its shipment, a stable hash of the
shipment key modulo P (`hub.partitions`, default 64). An applier applies only the
partitions it holds a lease for (`partition:17`, store/leases.py), so two appliers never
decide on the same shipment at once, and per-shipment order holds however many there are.

**Routing.** Ingress knows the shipment of a canonical webhook or batch item as it stores
it and writes the partition with the row. A message whose shipments are only known once
normalized (a partner mapping, an EDI interchange, Odoo capture, a timer) is stored with
partition NULL; appliers route those first, oldest first (normalize, hash, write the
partition; on PostgreSQL with `SKIP LOCKED`, so several route side by side). A message
whose events touch shipments of several partitions gets `SPAN` (-1).

**Barriers.** A partition's applier applies its pending rows in inbox order, but only those
before the oldest message still unrouted or spanning: such a message may concern any
shipment, so nothing after it is applied before it. A spanning message is applied alone,
once nothing before it is pending: on PostgreSQL under the exclusive form of the advisory
lock whose shared form every partition batch holds, on SQLite inside the one write lock.
Spanning messages are rare (an EDI interchange for several shipments); each costs a pause.

**Ownership.** Each applier keeps a membership lease (`applier:<node id>`) and holds about
P / (live appliers) partition leases (`PartitionOwner`): a newcomer takes free partitions
up to its share, holders above their share let the extra ones go, and the partitions of an
applier that died are free once its leases expire (`hub.lease_seconds`). Every partition
batch checks its leases' fencing tokens in its own write transaction (`fenced`), so an
applier paused past its expiry writes nothing when it wakes up.

An applier that holds every partition (one applier: the default on one machine) applies
everything pending in inbox order, unrouted and spanning messages included, without
routing them first: the hot path of a single node is what it was.

Changing P re-hashes shipments: the hub refuses a P different from the one the inbox was
routed with while messages are pending (`check_partitions`).
"""

from __future__ import annotations

import logging
import math
import random
import socket
import threading
import time
import zlib
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import Connection, delete, func, select, update

from intermodal.engine.ids import iso
from intermodal.errors import ConfigurationError
from intermodal.store.leases import Clock, free_gone, node_id, store_now, take
from intermodal.store.store import Store, where_one_of
from intermodal.store.tables import hub_meta, inbox, leases

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 64
SPAN = -1
"""The partition of a message whose events touch shipments of several partitions."""
PARTITION_PREFIX = "partition:"
MEMBER_PREFIX = "applier:"
PG_APPLY_LOCK = 7_201_513
"""Advisory lock: partition batches take it shared, a spanning message (or an applier
without leases) exclusive."""
_FORGET_MEMBERS_AFTER = timedelta(hours=1)
_HELD = select(leases.c.name, leases.c.token, leases.c.expires_at)
_HELD_LOCKED = _HELD.with_for_update(read=True)
"""The leases `fenced` checks, every apply batch: built once (store.where_one_of)."""


def partition_of(key: str, partitions: int) -> int:
    """The partition of a shipment key: CRC-32, the same in every process and version
    (Python's `hash` of a str changes with each interpreter start)."""
    return zlib.crc32(key.encode()) % partitions


def route(subjects: Iterable[str], partitions: int) -> int | None:
    """The partition of a message with these shipments: theirs when they share one, SPAN
    when they do not, None when there are none."""
    found = {partition_of(subject, partitions) for subject in subjects}
    if not found:
        return None
    return found.pop() if len(found) == 1 else SPAN


def lease_name(partition: int) -> str:
    return f"{PARTITION_PREFIX}{partition}"


def fenced(conn: Connection, held: dict[int, int], clock: Clock | None = None) -> bool:
    """Whether every partition in `held` (partition -> fencing token) is still ours, checked
    in the caller's write transaction (as `store.leases.still_holds`, for many at once):
    on PostgreSQL the rows stay locked against a new acquisition until it ends."""
    if not held:
        return True
    query = _HELD_LOCKED if conn.dialect.name == "postgresql" else _HELD
    statement, params = where_one_of(conn, query, leases.c.name, [lease_name(p) for p in held])
    now = iso(store_now(conn, clock))
    rows = {row.name: row for row in conn.execute(statement, params)}
    for partition, token in held.items():
        row = rows.get(lease_name(partition))
        if row is None or row.token != token or row.expires_at <= now:
            return False
    return True


def check_partitions(store: Store, partitions: int) -> None:
    """Record P for this database, or refuse a different one while messages routed with
    the old one are pending (their shipments would now hash elsewhere). Appliers of
    several nodes may start at once: the first insert wins, the others compare with it."""
    with store.write() as conn:
        conn.execute(
            store.insert_ignoring(hub_meta, ["name"]).values(
                name="partitions", value=str(partitions)
            )
        )
        stored = conn.execute(
            select(hub_meta.c.value).where(hub_meta.c.name == "partitions")
        ).scalar_one()
        if stored == str(partitions):
            return
        pending = conn.execute(
            select(func.count())
            .select_from(inbox)
            .where(inbox.c.status == "pending", inbox.c.partition.is_not(None))
        ).scalar_one()
        if pending:
            raise ConfigurationError(
                f"hub.partitions is {partitions} but the inbox holds {pending} pending"
                f" message(s) routed for {stored} partitions: let the hub apply them with"
                f" hub.partitions: {stored} first, then change it"
            )
        conn.execute(
            update(hub_meta).where(hub_meta.c.name == "partitions").values(value=str(partitions))
        )
    log.info("partitions: %s -> %d", stored, partitions)


class PartitionOwner:
    """One applier's share of the partitions: `held` maps each partition it holds a lease
    for to that lease's fencing token. `step` (run by `run` on a thread every third of the
    ttl, every half second while short of its share) renews the membership and the held
    leases in one statement, lets go of leases above the share, and takes free ones up to
    it. A renew the store refuses, or that comes too late, drops the lease from `held`."""

    def __init__(
        self,
        store: Store,
        partitions: int = DEFAULT_PARTITIONS,
        ttl_seconds: float = 10.0,
        holder: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.partitions = partitions
        self.ttl = timedelta(seconds=ttl_seconds)
        self.holder = holder or node_id()
        self.clock = clock
        self.member = f"{MEMBER_PREFIX}{self.holder}"
        self._held: dict[int, int] = {}
        self._valid_until = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.changed = threading.Event()
        """Set whenever the held set changes (the applier looks at new partitions at once)."""

    @property
    def held(self) -> dict[int, int]:
        with self._lock:
            return dict(self._held)

    @property
    def holds_all(self) -> bool:
        with self._lock:
            return len(self._held) == self.partitions

    # -- one round -------------------------------------------------------------------
    def step(self) -> bool:
        """One round; True when this applier holds its full share afterwards."""
        sent = time.monotonic()
        with self.store.write() as conn:
            now = store_now(conn, self.clock)
            at, until = iso(now), iso(now + self.ttl)
            names = [self.member, *(lease_name(p) for p in self.held)]
            renewed = {
                row.name: row.token
                for row in conn.execute(
                    update(leases)
                    .where(
                        leases.c.holder == self.holder,
                        leases.c.name.in_(names),
                        leases.c.expires_at > at,
                    )
                    .values(renewed_at=at, expires_at=until)
                    .returning(leases.c.name, leases.c.token)
                )
            }
            if self.member not in renewed:
                take(conn, [self.member], self.holder, at, until)
            self._expire_dead_neighbours(conn, at)
            members = conn.execute(
                select(func.count())
                .select_from(leases)
                .where(leases.c.name.like(f"{MEMBER_PREFIX}%"), leases.c.expires_at > at)
            ).scalar_one()
            share = math.ceil(self.partitions / max(members, 1))
            with self._lock:
                before = set(self._held)
                self._held = {
                    p: t for p, t in self._held.items() if renewed.get(lease_name(p)) == t
                }
                lost = before - set(self._held)
            if lost:
                log.warning("partitions lost (lease expired or taken): %s", sorted(lost))
            extra = sorted(self.held)[share:]
            if extra:
                self._release(conn, extra, at)
            elif len(self.held) < share:
                self._take(conn, share - len(self.held), at, until)
            conn.execute(  # members that left long ago
                delete(leases).where(
                    leases.c.name.like(f"{MEMBER_PREFIX}%"),
                    leases.c.expires_at < iso(now - _FORGET_MEMBERS_AFTER),
                )
            )
        self._valid_until = sent + self.ttl.total_seconds()
        if lost or extra:
            self.changed.set()
        return len(self.held) >= share

    def _expire_dead_neighbours(self, conn: Connection, at: str) -> None:
        """Let go at once of the leases of appliers of this machine whose process is gone
        (a crash, a SIGKILL), instead of waiting out their ttl: a restarted hub applies
        again within a second. A holder whose process id now belongs to someone else
        looks alive and simply expires; one judged dead wrongly (a pid of another pid
        namespace) is fenced like any holder whose lease was taken."""
        holders = conn.execute(
            select(leases.c.holder)
            .where(
                leases.c.name.like(f"{MEMBER_PREFIX}%"),
                leases.c.expires_at > at,
                leases.c.holder.like(f"{socket.gethostname()}:%"),
            )
            .distinct()
        ).scalars()
        dead = free_gone(conn, holders, at)
        if dead:
            log.info("partitions: appliers gone from this machine: %s", dead)

    def _take(self, conn: Connection, wanted: int, at: str, until: str) -> None:
        busy = {
            row.name
            for row in conn.execute(
                select(leases.c.name).where(
                    leases.c.name.like(f"{PARTITION_PREFIX}%"), leases.c.expires_at > at
                )
            )
        }
        free = [p for p in range(self.partitions) if lease_name(p) not in busy]
        if not free:
            return
        random.shuffle(free)  # newcomers do not all race for the same ones
        taken = take(conn, [lease_name(p) for p in free[:wanted]], self.holder, at, until)
        if taken:
            with self._lock:
                for name, token in taken.items():
                    self._held[int(name.removeprefix(PARTITION_PREFIX))] = token
            self.changed.set()

    def _release(self, conn: Connection, partitions: list[int], at: str) -> None:
        with self._lock:
            for p in partitions:
                self._held.pop(p, None)
        conn.execute(
            update(leases)
            .where(
                leases.c.holder == self.holder,
                leases.c.name.in_([lease_name(p) for p in partitions]),
            )
            .values(expires_at=at)
        )

    # -- in the background -----------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="partitions", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Step until stopped. Short of its share, it tries every half second (partitions
        of a dead applier move as soon as they expire); otherwise every third of the ttl."""
        every = self.ttl.total_seconds() / 3
        while not self._stop.is_set():
            try:
                full = self.step()
            except Exception:
                log.exception("partitions: a step failed; trying again")
                full = False
                self._drop_if_stale()
            self._stop.wait(every if full else min(every, 0.5))

    def _drop_if_stale(self) -> None:
        """The store did not answer: once the last good renew is a ttl old (this
        process's monotonic clock), hold nothing. The fencing check would refuse the
        writes anyway; this stops the work."""
        if time.monotonic() < self._valid_until:
            return
        with self._lock:
            dropped, self._held = self._held, {}
        if dropped:
            log.warning("partitions: no renew for a ttl, letting go of %d", len(dropped))
            self.changed.set()

    def stop(self) -> None:
        """Stop stepping and let every lease go, so others take them at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        held = self.held
        with self._lock:
            self._held.clear()
        try:
            with self.store.write() as conn:
                at = iso(store_now(conn, self.clock))
                conn.execute(
                    update(leases)
                    .where(
                        leases.c.holder == self.holder,
                        leases.c.name.in_([self.member, *(lease_name(p) for p in held)]),
                    )
                    .values(expires_at=at)
                )
        except Exception as error:  # they expire on their own
            log.warning("partitions: release failed: %s", error)


__all__ = [
    "DEFAULT_PARTITIONS",
    "PG_APPLY_LOCK",
    "SPAN",
    "PartitionOwner",
    "check_partitions",
    "fenced",
    "lease_name",
    "partition_of",
    "route",
]
