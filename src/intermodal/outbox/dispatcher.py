"""The outbox dispatcher: claims due commands, delivers them over HTTP, records outcomes.

Each command is an outbound CloudEvent sent as a Standard Webhooks-signed POST whose
`webhook-id` and `Idempotency-Key` are the command id, which stays the same across
retries and replays so the receiver can deduplicate. Claims carry a short lease that a
heartbeat extends while the pass delivers, and outcomes are recorded as they come (every
50 ms or 100 outcomes), so a crashed process resends only what was in flight and its other
claims free up within seconds.

Several dispatchers (one per hub node) may share one PostgreSQL database; the claim rule
that keeps each shipment's commands in order across them is `_claim`'s docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict, namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, bindparam, delete, or_, select, text, update

from intermodal.config import Endpoint, Settings
from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.observe import traces
from intermodal.observe.logs import exception_outline, log_outcome
from intermodal.observe.metrics import BREAKER_STATES, Metrics
from intermodal.observe.metrics import current as current_metrics
from intermodal.outbox import endpoint_state
from intermodal.outbox.edi_sink import EdiSink
from intermodal.outbox.policy import CircuitBreaker, backoff_delay
from intermodal.outbox.sinks import (
    ClaimedCommand,
    FollowUp,
    Result,
    Sink,
    SinkKind,
    SinkKinds,
    WebhookSink,
    build_sink,
    parse_check,
    webhook_headers,
)
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.store import execute_in, rows_for_pairs
from intermodal.store.tables import dead_letters, inbox, outbox

log = logging.getLogger(__name__)


# A claimed outbox row. SQLAlchemy's Row resolves each attribute through its key map, about
# 0.85 us a read; the dispatcher reads ten per command, and building a ClaimedCommand from a Row
# took 15 us, a fifth of replaying 100,000 dead letters (BENCHMARKS.md, W4). A named tuple
# of the table's columns reads them at C speed.
_OutboxRow = namedtuple("_OutboxRow", list(outbox.c.keys()))  # type: ignore[misc]

OUTBOX_SINK_KINDS: SinkKinds = {
    "webhook": SinkKind(WebhookSink, parse_check(webhook_headers)),
    "edi": SinkKind(EdiSink),
}
"""The endpoint kinds the outbox delivers itself. The hub hands its dispatcher the whole
table, these and the connectors' (`intermodal.wiring.SINK_KINDS`)."""


@dataclass(slots=True)
class DeliveryOutcome:
    """What the dispatcher does with one claimed row after a round: the sink's `Result`
    read through the breaker, the attempt limit and the backoff."""

    seq: int
    kind: str  # delivered | retry | dead | deferred
    error: str | None = None
    delay: float = 0.0
    follow_ups: tuple[FollowUp, ...] = ()


FLUSH_SECONDS = 0.05
"""Outcomes wait at most this long in memory before they are recorded."""
FLUSH_COUNT = 100
"""...or until this many have gathered, whichever comes first."""
CLAIM_LEASE_SECONDS = 10.0
"""The longest a claim lasts without a heartbeat; the heartbeat renews it every third."""


@dataclass(slots=True)
class _Pass:
    """One claimed pass: its rows, the outcomes not yet recorded, the seqs still held."""

    by_seq: dict[int, Any]
    held: set[int]
    buffer: list[DeliveryOutcome]
    lock: asyncio.Lock
    renewed: float
    """`time.monotonic()` of the claim or of its last renewal."""


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        client: httpx.AsyncClient | None = None,
        sinks: dict[str, Sink] | None = None,
        metrics: Metrics | None = None,
        sink_kinds: SinkKinds = OUTBOX_SINK_KINDS,
        claim_batch: int = 2000,
        lease_seconds: float = 120.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            follow_redirects=False,
        )
        self.claim_batch = claim_batch
        self.lease_seconds = lease_seconds
        self.claim_lease = min(lease_seconds, CLAIM_LEASE_SECONDS)
        self._leases: dict[int, str] = {}
        """The lease this dispatcher last wrote on each command it holds: the fencing
        value its heartbeats and outcomes must still find on the row (`_ours`)."""
        d = settings.delivery
        self.breakers: dict[str, CircuitBreaker] = defaultdict(
            lambda: CircuitBreaker(d.breaker_failures, d.breaker_reset_seconds)
        )
        self.allowance: dict[str, float] = defaultdict(float)
        """Tokens this node drew from each endpoint's shared bucket and has not spent."""
        self._draws: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._shared: dict[str, float | None] = {}
        """Each endpoint's shared breaker as last read or written (`endpoint_state`)."""
        self._shared_ready = False
        self._synced = 0.0
        self.sinks: dict[str, Sink] = dict(sinks or {})
        """Endpoint name -> its sink, built from `sink_kinds` on first use."""
        self.sink_kinds = sink_kinds
        self.metrics = metrics
        if metrics is not None:  # every endpoint's breaker shows, closed
            for name in settings.endpoints:
                metrics.breaker.labels(name).set(BREAKER_STATES["closed"])
        self.wake = asyncio.Event()
        self.stats: dict[str, int] = defaultdict(int)
        self._stopping = False
        self._insert_follow_up = store.insert_ignoring(inbox, ["partner", "message_id"])
        self.on_follow_ups: Callable[[], None] | None = None
        """Called after follow-ups were stored (the hub wakes its applier with it)."""

    async def run(self) -> None:
        """Deliver until stopped; sleeps until woken (new commands) or 0.5 s pass."""
        current_metrics.set(self.metrics)  # sinks' Odoo calls are counted
        while not self._stopping:
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("dispatcher pass failed; retrying")
                claimed = 0
                await asyncio.sleep(1.0)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):  # 3.11's wait_for can lose a cancel
                        await self.wake.wait()
                self.wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def aclose(self) -> None:
        for sink in self.sinks.values():
            await sink.aclose()
        await self.client.aclose()

    async def run_once(self) -> int:
        claimed_at = time.monotonic()
        rows = await asyncio.to_thread(self._claim)
        if not rows:
            return 0
        await self._sync_breakers()
        current = _Pass(
            {r.seq: r for r in rows}, {r.seq for r in rows}, [], asyncio.Lock(), claimed_at
        )
        by_endpoint: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_endpoint[row.endpoint].append(row)
        semaphore = asyncio.Semaphore(self.settings.delivery.concurrency)
        tasks = []
        for name, items in by_endpoint.items():
            endpoint = self.settings.endpoints.get(name)
            if endpoint is None:
                current.buffer.extend(
                    DeliveryOutcome(r.seq, "dead", f"endpoint '{name}' is not configured")
                    for r in items
                )
                continue
            tasks.append(self._deliver_in_order(endpoint, items, semaphore, current))
        done = asyncio.Event()
        keeper = asyncio.create_task(self._keep(current, done))
        try:
            await asyncio.gather(*tasks)
        finally:
            done.set()
            await keeper
            await self._flush(current)
        return len(rows)

    async def _keep(self, current: _Pass, done: asyncio.Event) -> None:
        """While a pass delivers: record outcomes every `FLUSH_SECONDS`, and renew the
        lease of the commands still held every third of the claim lease. A store error
        here is logged and tried again at the next tick: the outcomes stay buffered."""
        renew_every = self.claim_lease / 3
        renewed = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await done.wait()
            try:
                await self._flush(current)
                if time.monotonic() - self._synced >= 1.0:
                    await self._sync_breakers()
                if time.monotonic() - renewed >= renew_every:
                    renewed = time.monotonic()
                    async with current.lock:
                        await asyncio.to_thread(self._renew, sorted(current.held))
                    current.renewed = renewed
            except Exception:
                log.exception("recording outcomes or renewing claims failed; retrying")

    async def _flush(self, current: _Pass) -> None:
        """Record the outcomes gathered so far in one transaction; serialised with the
        heartbeat, so a renewal never re-leases a command already released. If the store
        fails, the outcomes go back to the buffer for the next try."""
        async with current.lock:
            outcomes, current.buffer = current.buffer, []
            if not outcomes:
                return
            try:
                await asyncio.to_thread(self._record, current.by_seq, outcomes)
            except BaseException:
                current.buffer[:0] = outcomes
                raise
            current.held.difference_update(o.seq for o in outcomes)

    async def _sync_breakers(self) -> None:
        """Open or close each endpoint's breaker to match the one the nodes share."""
        self._synced = time.monotonic()
        if not self._shared_ready:
            burst = {n: max(e.rate_per_second, 1.0) for n, e in self.settings.endpoints.items()}
            await asyncio.to_thread(
                endpoint_state.ensure, self.store, list(burst), time.time(), burst
            )
            self._shared_ready = True
        shared = await asyncio.to_thread(endpoint_state.opened_at, self.store)
        wall, mono = time.time(), time.monotonic()
        for name, when in shared.items():
            self._shared[name] = when
            breaker = self.breakers[name]
            if breaker.trial_in_flight:
                continue
            if when is not None:
                breaker.opened_at = mono - max(wall - when, 0.0)
                breaker.failures = max(breaker.failures, breaker.threshold)
            elif breaker.opened_at is not None and breaker.opened_at < self._synced - 1.0:
                breaker.success()  # another node's trial closed it (not one we just opened)
            if self.metrics is not None:
                self.metrics.breaker.labels(name).set(BREAKER_STATES[breaker.state])

    async def _publish(self, name: str, when: float | None) -> None:
        self._shared[name] = when
        try:
            await asyncio.to_thread(endpoint_state.publish, self.store, name, when)
        except Exception:  # the breaker still works for this node; others learn later
            log.exception("sharing the breaker of %s failed", name)

    async def _take(self, endpoint: Endpoint, count: int) -> None:
        """Spend `count` of the endpoint's rate, drawing from the shared bucket (a tenth
        of a second's worth at a time) when this node's allowance runs out."""
        name = endpoint.name
        async with self._draws[name]:
            if self.allowance[name] < count:
                rate = endpoint.rate_per_second
                block = max(float(count), rate * 0.1)
                wait = await asyncio.to_thread(
                    endpoint_state.draw_tokens,
                    self.store,
                    name,
                    block,
                    rate,
                    max(rate, 1.0),
                    time.time(),
                )
                self.allowance[name] += block
                if wait > 0:
                    await asyncio.sleep(wait)
            self.allowance[name] -= count

    async def _add(self, current: _Pass, outcomes: list[DeliveryOutcome]) -> None:
        current.buffer.extend(outcomes)
        if len(current.buffer) >= FLUSH_COUNT:
            await self._flush(current)

    async def _deliver_in_order(
        self,
        endpoint: Endpoint,
        rows: list[Any],
        semaphore: asyncio.Semaphore,
        current: _Pass,
    ) -> None:
        """Deliver in rounds so that commands about one subject arrive in order.

        Round k holds the k-th command of every subject (rows arrive in seq order), so a
        round batches across subjects while a subject's commands go one round after the
        other; once one fails, the subject's later commands wait for it (the claim query
        skips them until it is delivered). A stopping dispatcher lets its rounds in flight
        finish and releases the rest of its claim.
        """
        lanes: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            lanes[row.subject if row.subject is not None else f"\x00{row.seq}"].append(row)
        depth = max(len(lane) for lane in lanes.values())
        blocked: set[str] = set()
        size = endpoint.batch_size

        async def deliver(chunk: list[Any]) -> None:
            async with semaphore:
                # Stopping, or the claim may have lapsed (renewals failing, or this process
                # stalled): send nothing more, another node may hold these commands now.
                if self._stopping or time.monotonic() - current.renewed > self.claim_lease * 0.8:
                    outcomes = [DeliveryOutcome(r.seq, "deferred") for r in chunk]
                else:
                    outcomes = await self._deliver(endpoint, chunk)
            for outcome in outcomes:
                if outcome.kind != "delivered":
                    blocked.add(key_of[outcome.seq])
            await self._add(current, outcomes)

        for k in range(depth):
            ready = []
            deferred = []
            for key, lane in lanes.items():
                if k >= len(lane):
                    continue
                if key in blocked or self._stopping:
                    deferred.append(DeliveryOutcome(lane[k].seq, "deferred"))
                else:
                    ready.append((key, lane[k]))
            await self._add(current, deferred)
            key_of = {row.seq: key for key, row in ready}
            chunks = [ready[i : i + size] for i in range(0, len(ready), size)]
            await asyncio.gather(*(deliver([row for _, row in c]) for c in chunks))

    # -- delivery ---------------------------------------------------------------------
    async def _deliver(self, endpoint: Endpoint, rows: list[Any]) -> list[DeliveryOutcome]:
        """Breaker and rate limit first, then the endpoint's sink; results to outcomes."""
        breaker = self.breakers[endpoint.name]
        now = time.monotonic()
        # A trial (half-open) tests the endpoint, not the commands: its failure costs them
        # no attempt, so an outage of any length dead-letters nothing.
        trial = breaker.opened_at is not None
        if not breaker.allow(now):
            wait = max(breaker.reopens_at() - now, 0.05)
            return [DeliveryOutcome(r.seq, "deferred", delay=wait) for r in rows]
        if trial and not await asyncio.to_thread(
            endpoint_state.claim_trial,
            self.store,
            endpoint.name,
            self._shared.get(endpoint.name),
            time.time(),
        ):  # another node runs this period's trial
            breaker.trial_in_flight, breaker.opened_at = False, now
            return [DeliveryOutcome(r.seq, "deferred", delay=breaker.reset) for r in rows]
        await self._take(endpoint, len(rows))
        started = time.perf_counter()
        with traces.dispatch_span(endpoint.name, endpoint.kind, rows) as span:
            try:
                results = await self._sink(endpoint).deliver(
                    [ClaimedCommand.from_row(r) for r in rows]
                )
            except Exception as exc:  # a sink bug must not lose commands: retry them later
                log.error(  # tied to the first command's message; no message text
                    "sink %s failed",
                    endpoint.name,
                    extra={
                        "correlation_id": rows[0].correlation_id,
                        "shipment_key": rows[0].subject,
                        "exception": exception_outline(exc),
                    },
                )
                results = [Result(r.seq, False, f"{type(exc).__name__}: {exc}"[:500]) for r in rows]
            if span is not None:
                span.set_attribute("intermodal.delivered", sum(1 for r in results if r.ok))
        was_open = breaker.opened_at is not None
        if any(not r.ok and r.retryable for r in results):
            breaker.failure(time.monotonic())
        else:
            breaker.success()
        if breaker.opened_at is not None and (trial or not was_open):
            await self._publish(endpoint.name, time.time())  # opened, or the trial failed
        elif trial and breaker.opened_at is None:
            await self._publish(endpoint.name, None)  # the trial closed it for everyone
        if self.metrics is not None:
            self.metrics.delivery_latency.labels(endpoint.name).observe(
                time.perf_counter() - started
            )
            self.metrics.breaker.labels(endpoint.name).set(BREAKER_STATES[breaker.state])
        by_seq = {r.seq: r for r in rows}
        outcomes = []
        for result in results:
            if result.ok:
                outcomes.append(
                    DeliveryOutcome(result.seq, "delivered", follow_ups=result.follow_ups)
                )
            elif not result.retryable:
                outcomes.append(DeliveryOutcome(result.seq, "dead", result.error))
            elif trial:
                wait = max(breaker.reopens_at() - time.monotonic(), 0.05)
                outcomes.append(DeliveryOutcome(result.seq, "deferred", result.error, wait))
            else:
                outcomes.append(
                    self._retry(by_seq[result.seq], result.error or "failed", result.retry_after)
                )
        return outcomes

    def _sink(self, endpoint: Endpoint) -> Sink:
        sink = self.sinks.get(endpoint.name)
        if sink is None:
            sink = self.sinks[endpoint.name] = build_sink(self.sink_kinds, endpoint, self.client)
        return sink

    def _retry(self, row: Any, error: str, retry_after: float | None) -> DeliveryOutcome:
        d = self.settings.delivery
        endpoint = self.settings.endpoints.get(row.endpoint)
        limit = endpoint.max_attempts if endpoint else d.max_attempts
        if row.attempts + 1 >= limit:
            return DeliveryOutcome(row.seq, "dead", f"{error} (after {row.attempts + 1} attempts)")
        delay = backoff_delay(row.attempts, d.backoff_base_seconds, d.backoff_max_seconds)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return DeliveryOutcome(row.seq, "retry", error, delay)

    # -- store -----------------------------------------------------------------------
    def _claim(self) -> Sequence[Any]:
        with self.store.write() as conn:
            return self._claim_in(conn)

    def _claim_in(self, conn: Connection) -> list[Any]:
        """Claim due commands with a short lease: every claim is a prefix of its subject's
        pending commands for that endpoint, so no dispatcher overtakes another.

        The rule: a command of (endpoint, subject) may be claimed only together with every
        earlier pending command of that pair, and none of them may be leased, waiting for
        a retry, or held by a dead letter of the pair. On SQLite, write transactions run
        one at a time, so the query alone enforces it. On PostgreSQL, two claims can run
        at once and neither sees the other's uncommitted leases; `_heads_only` closes that
        gap with a per-subject advisory lock (see there).
        """
        now = utcnow()
        stamp = iso(now)
        earlier = outbox.alias("earlier")
        waiting_behind = (
            select(earlier.c.seq)
            .where(
                earlier.c.endpoint == outbox.c.endpoint,
                earlier.c.subject == outbox.c.subject,
                earlier.c.status == "pending",
                earlier.c.seq < outbox.c.seq,
                or_(earlier.c.next_attempt_at > stamp, earlier.c.lease_until >= stamp),
            )
            .exists()
        )
        held_by_dead_letter = (
            select(dead_letters.c.seq)
            .where(
                dead_letters.c.endpoint == outbox.c.endpoint,
                dead_letters.c.subject == outbox.c.subject,
            )
            .exists()
        )
        claimable = (
            outbox.c.status == "pending",
            outbox.c.next_attempt_at <= stamp,
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < stamp),
        )
        # The oldest due commands first, then the order checks on those alone: checked
        # before the limit, every due command of a backlog was probed and sorted whole
        # (PostgreSQL: 348 ms a claim behind 100,000, 31 ms so). Twice the claim
        # leaves room for the commands the checks hold back.
        due = select(outbox.c.seq).where(*claimable).order_by(outbox.c.seq)
        query = (
            select(outbox)
            .where(
                outbox.c.seq.in_(due.limit(2 * self.claim_batch).scalar_subquery()),
                # Again on the row itself: PostgreSQL checks a row's own conditions once
                # more on its newest version when it locks it, not the subquery's, so
                # without them a command another dispatcher leased meanwhile was claimed
                # twice.
                *claimable,
                ~waiting_behind,  # per-subject order: never overtake an earlier command
                ~held_by_dead_letter,  # nor a dead letter, until it is replayed
            )
            .order_by(outbox.c.seq)
            .limit(self.claim_batch)
        )
        claimed = conn.execute(self.store.for_update(query, skip_locked=True))
        rows: list[Any] = [_OutboxRow._make(r) for r in claimed]
        if rows and not self.store.is_sqlite:
            rows = _heads_only(conn, rows)
        if rows:
            lease = iso(now + timedelta(seconds=self.claim_lease))
            seqs = [r.seq for r in rows]
            execute_in(conn, _LEASE, outbox.c.seq, seqs, params={"b_lease": lease})
            self._leases.update(dict.fromkeys(seqs, lease))
        return rows

    def _ours(self, conn: Connection, seqs: list[int]) -> list[int]:
        """Of `seqs`, the commands whose row still carries the lease this dispatcher
        wrote, locked until the caller's transaction ends. A dispatcher paused past its
        lease whose commands another one claimed meanwhile finds a different lease there:
        its late heartbeat and outcomes leave those rows alone (the other records its
        own), so they can neither shorten another's claim nor dead-letter a command it
        delivers."""
        by_lease: dict[str, list[int]] = {}
        for seq in seqs:
            lease = self._leases.get(seq)
            if lease is not None:
                by_lease.setdefault(lease, []).append(seq)
        found: list[int] = []
        query = _LEASED_BY if self.store.is_sqlite else _LEASED_BY_LOCKED
        for lease, group in by_lease.items():
            for result in execute_in(conn, query, outbox.c.seq, group, params={"b_lease": lease}):
                found += result.scalars()
        return found

    def _renew(self, seqs: list[int]) -> None:
        """The heartbeat: extend the lease of commands this pass still holds."""
        if not seqs:
            return
        lease = iso(utcnow() + timedelta(seconds=self.claim_lease))
        with self.store.write() as conn:
            ours = self._ours(conn, seqs)
            execute_in(conn, _RENEW, outbox.c.seq, ours, params={"b_lease": lease})
        lost = set(seqs) - set(ours)
        for seq in ours:
            if seq in self._leases:  # not recorded meanwhile
                self._leases[seq] = lease
        for seq in lost:
            self._leases.pop(seq, None)
        if lost:
            log.warning("%d claimed command(s) were taken by another dispatcher", len(lost))

    def _record(self, by_seq: dict[int, Any], outcomes: list[DeliveryOutcome]) -> None:
        now = utcnow()
        stamp = iso(now)
        delivered = [o.seq for o in outcomes if o.kind == "delivered"]
        later = [
            {
                "b_seq": o.seq,
                "b_attempts": by_seq[o.seq].attempts + (1 if o.kind == "retry" else 0),
                "b_next": iso(now + timedelta(seconds=o.delay)),
                "b_error": o.error or by_seq[o.seq].last_error,
            }
            for o in outcomes
            if o.kind in ("retry", "deferred")
        ]
        dead = [o for o in outcomes if o.kind == "dead"]
        with self.store.write() as conn:
            ours = set(self._ours(conn, [o.seq for o in outcomes]))
            for o in outcomes:
                self._leases.pop(o.seq, None)
            if len(ours) < len(outcomes):  # claimed by another meanwhile: theirs to record
                log.warning(
                    "%d outcome(s) not recorded: another dispatcher holds those commands now",
                    len(outcomes) - len(ours),
                )
                delivered = [seq for seq in delivered if seq in ours]
                later = [row for row in later if row["b_seq"] in ours]
                dead = [o for o in dead if o.seq in ours]
                outcomes = [o for o in outcomes if o.seq in ours]
            follow_ups = [(o.seq, f) for o in outcomes if o.kind == "delivered"
                          for f in o.follow_ups]  # fmt: skip
            for seq, follow_up in follow_ups:  # with the delivery they come from, or not at all
                conn.execute(
                    self._insert_follow_up.values(
                        receipt_id=sortable_id("rcpt"),
                        partner=follow_up.partner,
                        message_id=follow_up.message_id,
                        channel=follow_up.channel,
                        content_type="application/json",
                        body=follow_up.body,
                        correlation_id=by_seq[seq].correlation_id,
                        received_at=stamp,
                        status="pending",
                    )
                )
            execute_in(conn, _DELIVERED, outbox.c.seq, delivered, params={"b_now": stamp})
            if later:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.seq == bindparam("b_seq"))
                    .values(
                        attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"),
                        lease_until=None,
                    ),
                    later,
                )
            if dead:
                conn.execute(
                    dead_letters.insert(),
                    [
                        {
                            "command_id": by_seq[o.seq].command_id,
                            "endpoint": by_seq[o.seq].endpoint,
                            "kind": by_seq[o.seq].kind,
                            "subject": by_seq[o.seq].subject,
                            "payload": by_seq[o.seq].payload,
                            "correlation_id": by_seq[o.seq].correlation_id,
                            "attempts": by_seq[o.seq].attempts + 1,
                            "last_error": o.error,
                            "created_at": by_seq[o.seq].created_at,
                            "dead_at": stamp,
                        }
                        for o in dead
                    ],
                )
                execute_in(conn, _DELETE, outbox.c.seq, [o.seq for o in dead])
                append(
                    self.store,
                    conn,
                    [
                        AuditEntry(
                            "dispatcher",
                            "outbox.dead_letter",
                            by_seq[o.seq].subject,
                            {
                                "command_id": by_seq[o.seq].command_id,
                                "endpoint": by_seq[o.seq].endpoint,
                                "error": o.error,
                            },
                        )
                        for o in dead
                    ],
                )
        if self.metrics is not None:  # one labels() per (endpoint, kind), not per command
            tally = Counter(
                (by_seq[o.seq].endpoint, "retried" if o.kind == "retry" else o.kind)
                for o in outcomes
            )
            for (endpoint_name, kind), count in tally.items():
                self.metrics.commands.labels(endpoint_name, kind).inc(count)
        for o in outcomes:  # one line per outcome, about its message
            log_outcome(log, by_seq[o.seq], o.kind, o.error)
        if follow_ups and self.on_follow_ups is not None:
            self.on_follow_ups()
        self.stats["delivered"] += len(delivered)
        self.stats["retried"] += sum(1 for o in outcomes if o.kind == "retry")
        self.stats["dead"] += len(dead)
        self.stats["deferred"] += sum(1 for o in outcomes if o.kind == "deferred")


# A claim's, a heartbeat's and a record's statements on its commands, built once and run
# on the commands' seqs by store.execute_in, bound as one parameter (store.where_one_of): an
# IN list of 500 literals was composed by SQLAlchemy and parsed by the database anew for
# every chunk.
_LEASE = update(outbox).values(lease_until=bindparam("b_lease"))
_LEASED_BY = select(outbox.c.seq).where(outbox.c.lease_until == bindparam("b_lease"))
_LEASED_BY_LOCKED = _LEASED_BY.with_for_update()
_RENEW = update(outbox).where(outbox.c.status == "pending").values(lease_until=bindparam("b_lease"))
_DELIVERED = update(outbox).values(
    status="delivered",
    delivered_at=bindparam("b_now"),
    attempts=outbox.c.attempts + 1,
    lease_until=None,
)
_DELETE = delete(outbox)


_PENDING_UP_TO = (
    select(outbox.c.seq, outbox.c.endpoint, outbox.c.subject)
    .where(outbox.c.status == "pending", outbox.c.seq <= bindparam("b_last"))
    .order_by(outbox.c.seq)
)


def _heads_only(conn: Connection, rows: list[Any]) -> list[Any]:
    """Keep the claimed rows that are a prefix of their subject's pending commands.

    Why it is sound on PostgreSQL: a claim of (endpoint, subject) happens only under
    that pair's transaction-scoped advisory lock, taken after the rows were locked
    (`FOR UPDATE SKIP LOCKED`) and held until the claim commits. The check below is a new
    statement, so under READ COMMITTED it sees every claim of the pair that committed
    before the lock was granted; and the rows it keeps are row-locked by this transaction,
    so no claim still in flight can hold them. If any earlier pending command of the pair
    is not among this claim's rows (another dispatcher holds it, leased or still
    uncommitted, or it waits for a retry), the pair's rows from that point on are dropped:
    they stay pending for a later pass. Pairs whose lock another claim holds are dropped
    whole. `pg_try_advisory_xact_lock` never waits, so claims cannot deadlock.
    """
    pairs = sorted({(r.endpoint, r.subject) for r in rows if r.subject is not None})
    if not pairs:
        return rows
    locked = {
        (e, s)
        for e, s in conn.execute(
            text(
                "SELECT e, s FROM unnest(CAST(:e AS text[]), CAST(:s AS text[])) AS t(e, s)"
                " WHERE pg_try_advisory_xact_lock(hashtextextended("
                "'intermodal.outbox:' || length(e) || ':' || e || s, 0))"
            ),
            {"e": [p[0] for p in pairs], "s": [p[1] for p in pairs]},
        )
    }
    mine = {r.seq for r in rows}
    last = max(mine)
    keep: set[int] = set()
    if locked:
        pending: dict[tuple[str, str], list[int]] = defaultdict(list)
        for seq, endpoint, subject in rows_for_pairs(  # one index probe a pair
            conn, _PENDING_UP_TO, outbox.c.endpoint, outbox.c.subject, sorted(locked),
            params={"b_last": last},
        ):  # fmt: skip
            pending[(endpoint, subject)].append(seq)
        for seqs in pending.values():
            for seq in seqs:
                if seq not in mine:
                    break
                keep.add(seq)
    return [r for r in rows if r.subject is None or r.seq in keep]
