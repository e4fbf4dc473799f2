"""Apply: turn stored inbox messages into events, per-shipment state and outbox commands.

One transaction per batch of inbox messages does everything a message causes: the events
(flagged applied / late / duplicate / violation), the shipments' new state, the outbox
commands the state changes emit, the audit entries, and the message's own status. A crash
anywhere leaves either all of it or none of it, so a message is applied exactly once.

A mapped message some of whose items cannot be read (engine/normalize.py, `skipped`) is
applied without them: its status is `applied` and its `error` records the skipped items
(path and reason). Replaying it after the mapping is fixed applies them; the events
already applied come out as duplicates by their ids.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, or_, select, text, update

from intermodal.canonical.events import (
    CanonicalEvent,
    ChargeRecorded,
    CustomsUpdated,
    PodReceived,
    ShipmentMilestone,
    ShipmentUpserted,
)
from intermodal.canonical.model import MilestoneType
from intermodal.config import Endpoint, Settings
from intermodal.engine.apply import EventOutcome, Mark, ShipmentState, decide
from intermodal.engine.ids import epoch_millis, iso, stable_id, utcnow
from intermodal.engine.normalize import (
    Normalized,
    NormalizeError,
    Normalizer,
    canonical,
    skipped_record,
)
from intermodal.engine.partitions import (
    PG_APPLY_LOCK,
    SPAN,
    PartitionOwner,
    fenced,
    partition_of,
    route,
)
from intermodal.errors import Conflict
from intermodal.foresight.positions import PositionIntake
from intermodal.observe import traces
from intermodal.observe.logs import exception_outline
from intermodal.observe.memory import gc_paused
from intermodal.observe.metrics import Metrics
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.store import PreparedWrite, execute_in, rows_for_pairs, rows_in, where_one_of
from intermodal.store.tables import cases, events, inbox, shipments, timers
from intermodal.workflows.engine import Effects, Orchestrator, internal_trigger
from intermodal.workflows.notifications import (
    case_notifications,
    closed_case_notifications,
    document_notifications,
    wants,
)
from intermodal.workflows.timers import INTERNAL_CHANNELS, TIMER_PARTNER
from intermodal.workflows.vocabulary import Convert, Trigger

log = logging.getLogger(__name__)

_INSERT_EVENT = events.insert()
_INSERT_SHIPMENT = shipments.insert()
_SHIPMENT_STATE_COLUMNS = (
    *(f"{p}_{f}" for p in ("main", "side", "terminal") for f in ("milestone", "at", "event_id")),
    "state",
    "state_at",
    "events_count",
    "late_count",
    "duplicate_count",
    "violation_count",
    "document",
    "updated_at",
)
_UPDATE_SHIPMENT = (
    update(shipments)
    .where(shipments.c.key == bindparam("b_key"))
    .values({name: bindparam(name) for name in _SHIPMENT_STATE_COLUMNS})
)
_DOCUMENT_TRIGGERS = {
    ShipmentUpserted: "shipment.upserted",
    PodReceived: "pod.received",
    ChargeRecorded: "charge.recorded",
    CustomsUpdated: "customs.updated",
}
_ROUTE = (
    update(inbox)
    .where(inbox.c.seq == bindparam("b_seq"), inbox.c.partition.is_(None))
    .values(partition=bindparam("b_partition"))
)
_CHUNK = 500
# The statements of every batch, built once: composing them per batch cost SQLAlchemy
# about as much as SQLite took to run them (store.where_one_of).
_PENDING = (
    select(
        inbox.c.seq, inbox.c.receipt_id, inbox.c.partner, inbox.c.channel,
        inbox.c.content_type, inbox.c.body, inbox.c.correlation_id, inbox.c.partition,
    )
    .where(inbox.c.status == "pending")
    .order_by(inbox.c.seq)
    .limit(bindparam("b_limit"))
)  # fmt: skip
_PENDING_BEFORE = _PENDING.where(inbox.c.seq < bindparam("b_barrier"))
_PG_PENDING_OF = text(
    "SELECT seq, receipt_id, partner, channel, content_type, body, correlation_id, partition"
    " FROM inbox WHERE seq IN ("
    " SELECT s.seq FROM unnest(CAST(:held AS integer[])) AS p(part) CROSS JOIN LATERAL ("
    "  SELECT seq FROM inbox WHERE status = 'pending' AND partition = p.part"
    "  AND seq < :b_barrier ORDER BY seq LIMIT :b_limit) AS s"
    " ORDER BY s.seq LIMIT :b_limit)"
    " ORDER BY seq"
)
"""`_PENDING(_BEFORE)` of some partitions, on PostgreSQL: each partition's first pending
rows through `ix_inbox_pending_partition` (at most the batch from each), then the batch's
rows by primary key. Asked as `partition = ANY(...) ORDER BY seq LIMIT n`, PostgreSQL read
every pending row of the partitions and sorted them for each batch (18 ms behind a
backlog of 40,000, growing with it: a backlog drained in quadratic time); this reads at
most partitions x batch index entries (4 ms for 64 partitions behind any backlog, less
than 1 for a few), and none for a partition with nothing pending."""
_NO_BARRIER = 2**63 - 1
_UNROUTED = (
    select(inbox.c.seq, inbox.c.receipt_id, inbox.c.partner, inbox.c.channel,
           inbox.c.content_type, inbox.c.body, inbox.c.correlation_id)
    .where(inbox.c.status == "pending", inbox.c.partition.is_(None))
    .order_by(inbox.c.seq)
    .limit(bindparam("b_limit"))
)  # fmt: skip
_UNROUTED_SKIP_LOCKED = _UNROUTED.with_for_update(skip_locked=True)
_BARRIER = select(func.min(inbox.c.seq)).where(
    inbox.c.status == "pending", or_(inbox.c.partition.is_(None), inbox.c.partition < 0)
)
_STILL_PENDING = func.coalesce(inbox.c.status, "") == "pending"
"""`status = 'pending'` for statements that name their rows by `seq`, in a form that
matches no partial index's predicate. Written plainly, PostgreSQL could answer it from
the pending indexes, and without statistics (or with ones taken while the backlog was
small) it takes the pending rows for few: it read every pending row and kept the batch's,
so each batch cost time in proportion to the backlog (5.6 ms a batch of 100 behind 20,000,
1.2 ms through the primary key). `status` is NOT NULL: `coalesce` changes no answer."""
_MARK_APPLIED = (
    update(inbox).where(_STILL_PENDING).values(status="applied", processed_at=bindparam("b_now"))
)
_SEEN_IDS = select(events.c.partner, events.c.event_id).where(events.c.outcome != "duplicate")
_SEEN_MEANINGS = select(events.c.meaning_key).where(events.c.outcome != "duplicate")
_SHIPMENTS = select(shipments)


def meaning_key(partner: str, event: CanonicalEvent) -> str:
    """Two events with different ids but the same meaning share this key.

    The milestone is part of the meaning: a partner whose clock has minute resolution can
    send picked_up and in_transit with the same time, and both are real. Likewise a charge's
    code and status: a freight invoice's lines (freight, fuel, duty) carry one time.

    The key is `mk_`, the event's time in milliseconds (12 hex digits), then the hash of
    the meaning. Events arrive near their time, so a batch's keys land on a few pages at
    the end of the unique index on them rather than on a random page each: with the hash
    first, that index was a third of the pages an apply commit wrote, and every page is
    written whole to SQLite's log (PostgreSQL's: whole after each checkpoint) while ingest
    waits for the writer lock.
    """
    milestone = event.data.milestone.value if isinstance(event, ShipmentMilestone) else ""
    if isinstance(event, ChargeRecorded):
        milestone = f"{event.data.code}:{event.data.status.value}"
    elif isinstance(event, CustomsUpdated):  # a hold and its release, one second
        milestone = event.data.state.value
    digest = stable_id("mk", partner, event.type.value, event.subject, iso(event.time), milestone)
    return f"mk_{epoch_millis(event.time):012x}{digest[3:]}"


def _pg_pending(conn: Connection, limit: int) -> Sequence[Any]:
    """`_PENDING` on PostgreSQL: the first pending rows in `ix_inbox_pending`'s order.

    PostgreSQL takes the pending rows for few whenever its statistics do not say
    otherwise (a new table, or statistics taken while the backlog was small), and then
    reads them all and sorts them rather than walk the index to the batch's end: 17 ms a
    batch behind 40,000, 0.06 ms walking. Sorting is switched off for this one statement
    (`SET LOCAL`, back to its default before anything else runs in the transaction; a
    failure ends the transaction, and the setting with it), which leaves the ordered walk
    as the plan."""
    conn.execute(_SORT_OFF)
    rows = conn.execute(_PENDING, {"b_limit": limit}).all()
    conn.execute(_SORT_ON)
    return rows


_SORT_OFF = text("SET LOCAL enable_sort = off")
_SORT_ON = text("SET LOCAL enable_sort TO DEFAULT")


def unapplicable(exc: BaseException) -> str:
    """The receipt's reason for a message that failed alone: the failure's class and where
    to look, never its text. A driver's message and SQLAlchemy's statement dump quote the
    values bound (a customer's name, e-mail, street), and receipts are read by partners;
    the traceback is in the hub's log, next to this message's correlation id."""
    original = getattr(exc, "orig", None)
    cause = type(original).__name__ if isinstance(original, BaseException) else None
    kind = type(exc).__name__ + (f" ({cause})" if cause else "")
    return f"{kind}: the message could not be applied; the hub's log has the details"


@dataclass
class _Shipment:
    key: str
    state: ShipmentState
    document: dict[str, Any]
    counts: dict[str, int]
    created_at: str
    exists: bool
    dirty: bool = False


@dataclass
class ApplyResult:
    messages: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    by_partner: dict[tuple[str, str], int] = field(default_factory=dict)
    commands: int = 0
    rejected: int = 0
    skipped: int = 0
    """Items of applied messages that could not be read (counted as outcome `skipped`)."""
    routed: int = 0
    """Messages given their partition (engine/partitions.py), not applied yet."""
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    """Position fixes by (partner, outcome): foresight/positions.py, not events."""
    position_refusals: dict[tuple[str, str], int] = field(default_factory=dict)
    """Position fixes refused, by (partner, reason)."""
    write_seconds: float = 0.0
    """Wall time of the batch's write transaction (on SQLite, the writer lock held)."""


class Superseded(Conflict):
    """A batch that must not be written: another applier applied its messages first, or
    this one lost a partition's lease while deciding. Nothing was written; try again."""


def record(result: ApplyResult, metrics: Metrics | None, totals: ApplyResult) -> None:
    """Count a batch's result in the hub's metrics and running totals."""
    if metrics is not None:
        for (partner, outcome), count in result.by_partner.items():
            metrics.events.labels(partner, outcome).inc(count)
        if result.rejected:
            metrics.messages_rejected.inc(result.rejected)
        for (partner, outcome), count in result.positions.items():
            metrics.positions.labels(partner, outcome).inc(count)
        for (partner, reason), count in result.position_refusals.items():
            metrics.positions_refused.labels(partner, reason).inc(count)
        if result.write_seconds:
            metrics.store_write_seconds.labels("apply").observe(result.write_seconds)
    totals.messages += result.messages
    totals.commands += result.commands
    totals.rejected += result.rejected
    totals.skipped += result.skipped
    for k, v in result.outcomes.items():
        totals.outcomes[k] = totals.outcomes.get(k, 0) + v
    for pair, v in result.positions.items():
        totals.positions[pair] = totals.positions.get(pair, 0) + v


def _state_from_row(row: Any) -> ShipmentState:
    def mark(prefix: str) -> Mark | None:
        milestone = getattr(row, f"{prefix}_milestone")
        if milestone is None:
            return None
        return Mark(
            MilestoneType(milestone),
            datetime.fromisoformat(getattr(row, f"{prefix}_at")),
            getattr(row, f"{prefix}_event_id"),
        )

    return ShipmentState(main=mark("main"), side=mark("side"), terminal=mark("terminal"))


def _state_columns(state: ShipmentState) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for prefix, mark in (("main", state.main), ("side", state.side), ("terminal", state.terminal)):
        columns[f"{prefix}_milestone"] = mark.milestone.value if mark else None
        columns[f"{prefix}_at"] = iso(mark.at) if mark else None
        columns[f"{prefix}_event_id"] = mark.event_id if mark else None
    current = state.current
    columns["state"] = current.milestone.value if current else None
    columns["state_at"] = iso(current.at) if current else None
    return columns


def _merge_document(doc: dict[str, Any], event: CanonicalEvent) -> EventOutcome:
    """Keep the newest shipment data, proof of delivery, customs status and charge per code.

    Newest is by the event's own time, so a late copy never overwrites a newer one; a
    final charge is never replaced by a provisional one, and replaces a provisional one
    whatever their times (a carrier dates its invoice by day, the quote was timed to the
    second), keeping the quote beside it as `provisional` for billing and reconciliation.
    """
    at = iso(event.time)
    data = event.data.model_dump(mode="json", exclude_none=True)
    if isinstance(event, ShipmentUpserted):
        slot, holder = "shipment", doc
    elif isinstance(event, PodReceived):
        slot, holder = "pod", doc
    elif isinstance(event, CustomsUpdated):
        slot, holder = "customs", doc
    elif isinstance(event, ChargeRecorded):
        slot, holder = event.data.code, doc.setdefault("charges", {})
        current = holder.get(slot)
        if current is not None:
            was_final = current["data"]["status"] == "final"
            if was_final and data["status"] != "final":
                return EventOutcome.LATE
            if not was_final and data["status"] == "final":
                holder[slot] = {"at": at, "data": data, "provisional": current["data"]}
                return EventOutcome.APPLIED
            if "provisional" in current:
                if current["at"] >= at:
                    return EventOutcome.LATE
                holder[slot] = {"at": at, "data": data, "provisional": current["provisional"]}
                return EventOutcome.APPLIED
    else:
        return EventOutcome.LATE
    current = holder.get(slot)
    if current is not None and current["at"] >= at and not _customs_moves_on(current, at, data):
        return EventOutcome.LATE
    holder[slot] = {"at": at, "data": data}
    return EventOutcome.APPLIED


_CUSTOMS_ORDER = {"not_required": 0, "pending": 1, "hold": 2, "released": 3}


def _customs_moves_on(current: dict[str, Any], at: str, data: dict[str, Any]) -> bool:
    """A customs status stamped the same second as the stored one replaces it when
    it comes later in the process (a release in the second of its hold): the broker's clock
    alone cannot order them, and a hold that outlives its release would block billing."""
    state = data.get("state")
    return (
        current["at"] == at
        and state in _CUSTOMS_ORDER
        and "occurred_at" in data
        and _CUSTOMS_ORDER[state] > _CUSTOMS_ORDER.get(current["data"].get("state", ""), 99)
    )


class Applier:
    """Drains pending inbox messages in arrival order, a batch per transaction."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        batch: int = 1000,
        on_commands: Callable[[int], None] | None = None,
        metrics: Metrics | None = None,
        normalize: Normalizer = canonical,
        report: Callable[[ApplyResult], None] | None = None,
        owner: PartitionOwner | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        """The partitions this applier holds leases for; None: it is the only applier
        and applies everything (an embedded hub, the tests)."""
        self.partitions = owner.partitions if owner is not None else settings.hub.partitions
        self._tried: list[int] = []
        self._tried_message: dict[str, Any] = {}
        """The ids of the one message last tried alone, for the line that rejects it."""
        self.normalize = normalize
        self.metrics = metrics
        self.report = report
        """Where each batch's result goes instead of `metrics` and `totals`: the applier
        process sends it to the hub (engine/applier_process.py)."""
        self.settings = settings
        self.batch = batch
        self.on_commands = on_commands
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.totals = ApplyResult()
        # None without a `workflows` section: the hot path stays as it was.
        self.flows = Orchestrator(settings) if settings.workflows is not None else None
        self._flow_endpoints = self.flows.role_endpoints if self.flows else frozenset()
        self._insert_case = store.insert_ignoring(cases, ["case_id"])
        self._insert_timer = store.insert_ignoring(timers, ["timer_id"])
        self._effects = Effects()
        self._convert: Convert | None = None

    # -- running in the background -------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="applier", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        self.run(self._woken)

    def _woken(self) -> bool:
        self.wake.wait(timeout=0.5)
        self.wake.clear()
        return True

    def run(self, wait: Callable[[], bool]) -> None:
        """Apply everything pending each time `wait()` returns, until it returns False or
        the applier is stopped. The thread waits on `wake`; the applier process on its
        wake pipe (engine/applier_process.py). A failing batch is retried a second later."""
        while not self._stop.is_set() and wait():
            try:
                while not self._stop.is_set():
                    result = self.run_once()
                    if not (result.messages or result.routed):
                        break
            except Exception as exc:
                log.error(
                    "applier batch failed (%s); retrying",
                    type(exc).__name__,
                    extra={"exception": exception_outline(exc)},
                )
                self._stop.wait(1.0)

    # -- one batch -------------------------------------------------------------------
    def run_once(self) -> ApplyResult:
        """Apply the next batch; if it fails, isolate the message that makes it fail.

        A batch that raises is retried one message at a time; a message that fails alone
        is marked `rejected` with the error (its raw bytes stay in the inbox), so one
        poison message can never stop the pipeline behind it. A batch another applier
        got to first, or whose partitions this applier lost meanwhile, is simply dropped:
        nothing of it was written.
        """
        try:
            return self._run_batch(self.batch)
        except Superseded as why:
            log.info("apply batch dropped: %s", why)
            return ApplyResult()
        except Exception as exc:
            log.error(
                "apply batch failed (%s); isolating the failing message",
                type(exc).__name__,
                extra={"exception": exception_outline(exc)},
            )
        try:
            return self._run_batch(1)
        except Superseded as why:
            log.info("apply batch dropped: %s", why)
            return ApplyResult()
        except Exception as exc:
            rejected = self._reject(self._tried, unapplicable(exc))
            # Ids and the error's class: its message may quote the payload (a name).
            log.error(
                "inbox message rejected: it cannot be applied (%s)",
                type(exc).__name__,
                extra={**self._tried_message, "exception": exception_outline(exc)},
            )
            result = ApplyResult(messages=rejected, rejected=rejected)
            self._add(result)
            return result

    def _reject(self, seqs: list[int], error: str) -> int:
        if not seqs:
            return 0
        with self.store.write() as conn:
            return int(
                conn.execute(
                    update(inbox)
                    .where(inbox.c.seq.in_(seqs), _STILL_PENDING)
                    .values(status="rejected", processed_at=iso(utcnow()), error=error)
                ).rowcount
            )

    def _run_batch(self, limit: int) -> ApplyResult:
        """Route what needs routing, then apply a batch of this applier's partitions, or
        a spanning message when one is next (engine/partitions.py)."""
        started_ns = time.time_ns()
        self._tried, self._tried_message = [], {}
        held = self.owner.held if self.owner is not None else None
        routed = 0
        if held is not None and len(held) < self.partitions:
            routed = self._route(held, limit)
            if not held:  # a member without partitions yet: it only routes
                return ApplyResult(routed=routed)
        rows, result = self._apply_batch(limit, held)
        if not rows and held is not None and len(held) < self.partitions:
            rows, result = self._apply_span()
        result.routed = routed
        if result.commands and self.on_commands is not None:
            self.on_commands(result.commands)
        if rows:
            self._add(result)
        if traces.tracer() is not None and rows:  # spans under each ingress span
            traces.record_apply(rows, started_ns, result.messages, result.commands)
        return result

    def _apply_batch(
        self, limit: int, held: dict[int, int] | None
    ) -> tuple[Sequence[Any], ApplyResult]:
        """Read and decide, then write, in one transaction (PostgreSQL) or two (SQLite).

        On SQLite the write lock is the whole database's: holding it while a batch is
        parsed and decided kept the group committer, and with it every 202, waiting. So
        there the batch is read and decided outside the lock and written in a short
        transaction that first checks its inbox rows are still pending and its partitions
        still ours. That is safe because no other applier writes these shipments: they
        belong to partitions this applier holds (or, without leases, it is the only
        applier). On PostgreSQL writers do not block each other, so one transaction does
        it all, holding the apply lock's shared form (its exclusive form, without leases).
        """
        subset = held is not None and len(held) < self.partitions
        if self.store.is_sqlite:
            with self.store.read() as conn:
                rows = self._pending(conn, limit, held if subset else None)
                result = ApplyResult(messages=len(rows))
                with gc_paused():  # a batch's models and rows: observe.memory.gc_paused
                    write = self._apply_rows(conn, rows, result) if rows else None
            if write is not None:
                with self.store.write() as conn:  # the lock is ours once this is open
                    began = time.perf_counter()
                    self._fence(conn, held, rows)
                    write(conn)
                result.write_seconds = time.perf_counter() - began  # with its commit
            return rows, result
        began = time.perf_counter()
        with self.store.write() as conn:
            lock = "pg_advisory_xact_lock" if held is None else "pg_advisory_xact_lock_shared"
            conn.execute(text(f"SELECT {lock}(:id)"), {"id": PG_APPLY_LOCK})
            rows = self._pending(conn, limit, held if subset else None)
            result = ApplyResult(messages=len(rows))
            if rows:
                with gc_paused():
                    write = self._apply_rows(conn, rows, result)
                self._fence(conn, held, rows)
                write(conn)
        if rows:
            result.write_seconds = time.perf_counter() - began
        return rows, result

    def _fence(self, conn: Connection, held: dict[int, int] | None, rows: Sequence[Any]) -> None:
        """Refuse the batch unless the leases of its partitions are still ours: all of
        them when it holds a message not routed to one partition."""
        if held is None:
            return
        touched = {row.partition for row in rows}
        if None in touched or SPAN in touched:
            check = held
        else:
            check = {p: held[p] for p in touched if p in held}
            if len(check) < len(touched):
                raise Superseded("a message of a partition this applier does not hold")
        if not fenced(conn, check):
            raise Superseded("a partition's lease was lost while its batch was decided")

    def _apply_span(self) -> tuple[Sequence[Any], ApplyResult]:
        """Apply the next message if it spans partitions and nothing before it is pending,
        alone: every partition batch is excluded meanwhile (module docstring)."""
        with self.store.write() as conn:
            if not self.store.is_sqlite:
                got = conn.execute(
                    text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PG_APPLY_LOCK}
                ).scalar()
                if not got:
                    return [], ApplyResult()
            rows = self._pending(conn, 1, None)
            if not rows or rows[0].partition != SPAN:
                return [], ApplyResult()
            result = ApplyResult(messages=1)
            with gc_paused():
                self._apply_rows(conn, rows, result)(conn)
        return rows, result

    def _route(self, held: dict[int, int], limit: int) -> int:
        """Give unrouted messages their partition, oldest first. On PostgreSQL every
        applier routes (`SKIP LOCKED` splits the rows); on SQLite the holder of partition
        0 does, outside the write lock, and writes only rows still unrouted."""
        if self.store.is_sqlite:
            if 0 not in held:
                return 0
            with self.store.read() as conn:
                rows = conn.execute(_UNROUTED, {"b_limit": limit}).all()
            if not rows:
                return 0
            routes = [{"b_seq": row.seq, "b_partition": self._partition(row)} for row in rows]
            with self.store.write() as conn:
                conn.execute(_ROUTE, routes)
            return len(routes)
        with self.store.write() as conn:
            rows = conn.execute(_UNROUTED_SKIP_LOCKED, {"b_limit": limit}).all()
            if not rows:
                return 0
            routes = [{"b_seq": row.seq, "b_partition": self._partition(row)} for row in rows]
            conn.execute(_ROUTE, routes)
        return len(routes)

    def _partition(self, row: Any) -> int:
        """A message's partition, from the shipments its events name. One that cannot be
        read goes to a partition of its own receipt id: its applier rejects it there."""
        try:
            if row.channel in INTERNAL_CHANNELS and row.partner == TIMER_PARTNER:
                subjects = [internal_trigger(row.channel, bytes(row.body), row.correlation_id)[0]]
            else:
                normalized = self.normalize(
                    row.partner, row.channel, row.content_type, bytes(row.body)
                )
                subjects = [event.subject for event, _ in normalized]
        except Exception:  # NormalizeError and any other: rejected where it is applied
            subjects = []
        found = route(subjects, self.partitions)
        return partition_of(row.receipt_id, self.partitions) if found is None else found

    def _pending(self, conn: Connection, limit: int, held: dict[int, int] | None) -> Sequence[Any]:
        """The next pending messages in inbox order: all of them, or (`held`) those of
        these partitions before the oldest message unrouted or spanning."""
        if held is None:
            if self.store.is_sqlite:
                rows = conn.execute(_PENDING, {"b_limit": limit}).all()
            else:
                rows = _pg_pending(conn, limit)
        else:
            barrier = conn.execute(_BARRIER).scalar()
            if self.store.is_sqlite:
                query = _PENDING if barrier is None else _PENDING_BEFORE
                statement, params = where_one_of(conn, query, inbox.c.partition, sorted(held))
                params["b_limit"] = limit
                if barrier is not None:
                    params["b_barrier"] = barrier
                rows = conn.execute(statement, params).all()
            else:
                bound = {"held": sorted(held), "b_limit": limit}
                bound["b_barrier"] = _NO_BARRIER if barrier is None else barrier
                rows = conn.execute(_PG_PENDING_OF, bound).all()
        self._tried = [row.seq for row in rows]
        if len(rows) == 1:
            (row,) = rows
            self._tried_message = {
                "inbox_seq": row.seq,
                "receipt_id": row.receipt_id,
                "partner": row.partner,
                "correlation_id": row.correlation_id,
            }
        else:
            self._tried_message = {}
        return rows

    def _add(self, result: ApplyResult) -> None:
        if self.report is not None:
            self.report(result)
        else:
            record(result, self.metrics, self.totals)

    def _apply_rows(
        self, conn: Connection, rows: Sequence[Any], result: ApplyResult
    ) -> Callable[[Connection], None]:
        """Decide what the rows cause (reading through `conn`); return the writes to make."""
        now = iso(utcnow())
        parsed: list[tuple[Any, list[CanonicalEvent], list[Any]]] = []
        rejected: list[dict[str, Any]] = []
        partial: list[dict[str, Any]] = []  # applied without the items they record
        fired: list[tuple[str, Trigger]] = []  # timers, applied after the events
        for row in rows:
            # the hub's own messages: a timer fired, a case was closed
            if row.channel in INTERNAL_CHANNELS and row.partner == TIMER_PARTNER:
                try:
                    fired.append(internal_trigger(row.channel, bytes(row.body), row.correlation_id))
                except (ValueError, KeyError, TypeError) as exc:
                    error = f"not a {row.channel} message: {exc}"
                    rejected.append({"b_seq": row.seq, "b_error": error})
                    continue
                parsed.append((row, [], []))
                continue
            try:
                normalized = self.normalize(
                    row.partner, row.channel, row.content_type, bytes(row.body)
                )
            except NormalizeError as exc:
                rejected.append({"b_seq": row.seq, "b_error": str(exc)})
                continue
            if isinstance(normalized, Normalized) and normalized.skipped:
                partial.append({"b_seq": row.seq, "b_error": skipped_record(normalized.skipped)})
                result.skipped += len(normalized.skipped)
                tally = (row.partner, "skipped")
                result.by_partner[tally] = result.by_partner.get(tally, 0) + len(normalized.skipped)
            parsed.append((row, [e for e, _ in normalized], [d for _, d in normalized]))
        result.rejected = len(rejected)

        fixes = PositionIntake(self.store, self.settings)  # positions are not events
        all_events = [
            (row, ev, meaning_key(row.partner, ev), item)
            for row, evs, items in parsed
            for ev, item in zip(evs, items, strict=True)
            if not fixes.take(row.partner, ev)
        ]
        seen_ids, seen_meanings = self._known(
            conn,
            {(row.partner, ev.id) for row, ev, _, _ in all_events},
            {mk for _, _, mk, _ in all_events},
        )
        ships = self._load(
            conn, {ev.subject for _, ev, _, _ in all_events} | {s for s, _ in fired}, now
        )
        effects = Effects()
        self._effects = effects
        self._convert = _rates(conn) if self.flows is not None else None

        event_rows: list[dict[str, Any]] = []
        commands: list[OutboundCommand] = []
        audit_entries: list[AuditEntry] = []
        changed: dict[str, tuple[Any, datetime]] = {}  # this message's shipments
        for row, ev, mk, item in all_events:
            if changed and _delivery(row) != _delivery(changed[next(iter(changed))][0]):
                self._message_applied(changed, ships, now)
            ship = ships[ev.subject]
            if (row.partner, ev.id) in seen_ids or mk in seen_meanings:
                outcome = EventOutcome.DUPLICATE
            else:
                seen_ids.add((row.partner, ev.id))
                seen_meanings.add(mk)
                outcome = self._apply_event(ship, row, ev, now, commands, audit_entries)
                if outcome is EventOutcome.APPLIED and self.flows is not None:
                    seen = changed.get(ev.subject)
                    changed[ev.subject] = (row, max(ev.time, seen[1]) if seen else ev.time)
            ship.dirty = True
            ship.counts["events_count"] += 1
            if outcome is not EventOutcome.APPLIED:
                ship.counts[f"{outcome.value}_count"] += 1
            result.outcomes[outcome.value] = result.outcomes.get(outcome.value, 0) + 1
            tally = (row.partner, outcome.value)
            result.by_partner[tally] = result.by_partner.get(tally, 0) + 1
            milestone = ev.data.milestone.value if isinstance(ev, ShipmentMilestone) else None
            occurred = ev.data.occurred_at if isinstance(ev, ShipmentMilestone) else ev.time
            event_rows.append(
                {
                    "event_id": ev.id,
                    "partner": row.partner,
                    "source": ev.source,
                    "type": ev.type.value,
                    "subject": ev.subject,
                    "time": iso(ev.time),
                    "milestone": milestone,
                    "occurred_at": iso(occurred),
                    "meaning_key": mk,
                    "outcome": outcome.value,
                    "inbox_seq": row.seq,
                    "receipt_id": row.receipt_id,
                    "recorded_at": now,
                    "correlation_id": row.correlation_id,
                    "data": orjson.dumps(item).decode(),
                }
            )

        if changed:
            self._message_applied(changed, ships, now)
        if self.flows is not None:
            for subject, trigger in fired:
                ship = ships[subject]
                if ship.exists or ship.dirty:
                    self.flows.react(
                        subject, ship.state, ship.document, trigger, now, effects, self._convert
                    )
                    ship.dirty = True
            commands.extend(effects.commands)
            documents = {key: ship.document for key, ship in ships.items()}
            subscribers = self._subscribers()  # cases opened and closed, to subscribers
            commands.extend(case_notifications(subscribers, effects.opened_cases, documents, now))
            commands.extend(
                closed_case_notifications(
                    conn, subscribers, effects.closed_cases, effects.opened_cases, documents, now
                )
            )
        result.commands = len(commands)
        done = [r.seq for r, _, _ in parsed]
        positions = fixes.decide(conn, datetime.fromisoformat(now)) if fixes else None
        if positions is not None:
            result.positions = dict(positions.outcomes)
            result.position_refusals = dict(positions.refusals)

        # Everything that needs no database is made here, before the write transaction
        # (on SQLite, before the writer lock every ingest commit waits for).
        events_write = self.store.prepare_many(_INSERT_EVENT, event_rows)
        shipments_writes = self._shipment_writes(ships.values(), now)

        def write(conn: Connection) -> None:
            marked = execute_in(conn, _MARK_APPLIED, inbox.c.seq, done, _CHUNK, {"b_now": now})
            claimed = sum(result.rowcount for result in marked)
            if claimed != len(done):  # another applier got there first: decide again
                raise Superseded("inbox rows changed while the batch was decided")
            if positions is not None and not positions.write(conn):
                raise Superseded("a shipment's positions changed while the batch was decided")
            if partial:
                conn.execute(
                    update(inbox)
                    .where(inbox.c.seq == bindparam("b_seq"))
                    .values(error=bindparam("b_error")),
                    partial,
                )
            events_write.run(conn)
            for shipments_write in shipments_writes:
                shipments_write.run(conn)
            enqueue(conn, commands)
            self._write_effects(conn, effects, now)
            append(self.store, conn, audit_entries)
            if rejected:
                conn.execute(
                    update(inbox)
                    .where(inbox.c.seq == bindparam("b_seq"))
                    .values(status="rejected", processed_at=now, error=bindparam("b_error")),
                    rejected,
                )

        return write

    def _apply_event(
        self,
        ship: _Shipment,
        row: Any,
        ev: CanonicalEvent,
        now: str,
        commands: list[OutboundCommand],
        audit_entries: list[AuditEntry],
    ) -> EventOutcome:
        if not isinstance(ev, ShipmentMilestone):
            merged = _merge_document(ship.document, ev)
            if merged is EventOutcome.APPLIED and self.flows is not None:
                self._react(ship, row, ev, _DOCUMENT_TRIGGERS[type(ev)], ev.time, now)
            if merged is EventOutcome.APPLIED:  # pod, charge, customs: to their subscribers
                commands.extend(self._notices(ship.key, ship.document, row, ev, now))
            return merged
        mark = Mark(ev.data.milestone, ev.data.occurred_at, ev.id)
        before = ship.state.current
        state, outcome = decide(ship.state, mark, row.partner, self.settings.ownership)
        if outcome is EventOutcome.VIOLATION:
            audit_entries.append(
                AuditEntry(
                    row.partner,
                    "ownership.violation",
                    ship.key,
                    {"event_id": ev.id, "milestone": mark.milestone.value},
                    partition_of(ship.key, self.partitions),
                )
            )
        if outcome is not EventOutcome.APPLIED:
            return outcome
        ship.state = state
        after = state.current
        if after is not None and (before is None or before.milestone != after.milestone):
            audit_entries.append(
                AuditEntry(
                    row.partner,
                    "shipment.state",
                    ship.key,
                    {
                        "from": before.milestone.value if before else None,
                        "to": after.milestone.value,
                        "event_id": ev.id,
                        "receipt_id": row.receipt_id,
                    },
                    partition_of(ship.key, self.partitions),  # the partition's own chain
                )
            )
            commands.extend(self._commands(ship.key, before, after, row, ev, now, ship.document))
        if self.flows is not None:
            self._react(ship, row, ev, f"milestone.{mark.milestone.value}", mark.at, now)
        return outcome

    def _react(
        self, ship: _Shipment, row: Any, ev: CanonicalEvent, name: str, at: datetime, now: str
    ) -> None:
        """Let the flows react to an applied event (effects written with it)."""
        assert self.flows is not None
        if not self.flows.wants(name):
            return
        trigger = Trigger(
            name=name,
            event_id=ev.id,
            partner=row.partner,
            at=at,
            data=ev.data.model_dump(mode="json", exclude_none=True),
            correlation_id=row.correlation_id,
        )
        self.flows.react(
            ship.key, ship.state, ship.document, trigger, now, self._effects, self._convert
        )

    def _message_applied(
        self, changed: dict[str, tuple[Any, datetime]], ships: dict[str, _Shipment], now: str
    ) -> None:
        """After all events of one delivery (a message, or the events of one batch
        request, which share partner and correlation id and sit next to each other in the
        inbox): `shipment.changed` per shipment it moved. A freight invoice's lines (or a
        charge and its POD) arrive together; deciding on billing once per delivery bills them
        together, not line by line."""
        assert self.flows is not None
        if not self.flows.wants("shipment.changed"):
            changed.clear()
            return
        for subject, (row, at) in changed.items():
            trigger = Trigger(
                name="shipment.changed",
                event_id=f"{row.receipt_id}:{subject}",
                partner=row.partner,
                at=at,
                data={},
                correlation_id=row.correlation_id,
            )
            ship = ships[subject]
            self.flows.react(
                subject, ship.state, ship.document, trigger, now, self._effects, self._convert
            )
        changed.clear()

    def _write_effects(self, conn: Connection, effects: Effects, now: str) -> None:
        """Timers set and cancelled, cases opened and closed."""
        self.store.execute_many(conn, self._insert_timer, effects.timers)
        if effects.cancelled_timers:
            conn.execute(
                update(timers)
                .where(timers.c.timer_id == bindparam("b_id"), timers.c.status == "pending")
                .values(status="cancelled"),
                [{"b_id": t} for t in effects.cancelled_timers],
            )
        self.store.execute_many(conn, self._insert_case, effects.opened_cases)
        if effects.closed_cases:
            conn.execute(
                update(cases)
                .where(cases.c.case_id == bindparam("b_id"), cases.c.status == "open")
                .values(status="closed", closed_at=now),
                [{"b_id": c} for c in effects.closed_cases],
            )

    def _subscribers(self) -> list[Endpoint]:
        """Endpoints that take notifications (those with a flow role get the flows'
        commands instead)."""
        return [e for e in self.settings.endpoints.values() if e.name not in self._flow_endpoints]

    def _notices(
        self, key: str, document: dict[str, Any], row: Any, ev: CanonicalEvent, now: str
    ) -> list[OutboundCommand]:
        """A proof of delivery, charge or customs update, to its subscribers."""
        data = ev.data.model_dump(mode="json", exclude_none=True)
        event = _DOCUMENT_TRIGGERS[type(ev)]
        return document_notifications(
            self._subscribers(), event, key, document, data, ev.id, row.partner,
            row.correlation_id, now,
        )  # fmt: skip

    def _commands(
        self,
        key: str,
        before: Mark | None,
        after: Mark,
        row: Any,
        ev: ShipmentMilestone,
        now: str,
        document: dict[str, Any],
    ) -> Iterable[OutboundCommand]:
        """One outbound CloudEvent per subscribed endpoint, its id stable across replays."""
        for endpoint in self._subscribers():
            if not wants(endpoint, "milestone", key, document, after.milestone.value):
                continue
            command_id = stable_id("cmd", endpoint.name, row.partner, ev.id)
            data: dict[str, Any] = {
                "milestone": after.milestone.value,
                "occurred_at": iso(after.at),
            }
            if ev.data.quantities is not None:  # what a warehouse picked, for the delivery
                data["quantities"] = [q.model_dump(mode="json") for q in ev.data.quantities]
            payload = {
                "specversion": "1.0",
                "id": command_id,
                "source": "intermodal",
                "type": "intermodal.shipment.milestone",
                "subject": key,
                "time": now,
                "datacontenttype": "application/json",
                "data": data,
                "previousstate": before.milestone.value if before else "none",
                "assertedby": row.partner,
                "causationid": ev.id,
            }
            yield OutboundCommand(
                command_id, endpoint.name, "webhook", key, orjson.dumps(payload),
                row.correlation_id, now,
            )  # fmt: skip

    # -- loading and saving ------------------------------------------------------------
    def _known(
        self, conn: Connection, ids: set[tuple[str, str]], meanings: set[str]
    ) -> tuple[set[tuple[str, str]], set[str]]:
        seen_ids = {
            (r.partner, r.event_id)
            for r in rows_for_pairs(
                conn, _SEEN_IDS, events.c.partner, events.c.event_id, ids, _CHUNK
            )
        }
        seen_meanings = {
            r.meaning_key
            for r in rows_in(conn, _SEEN_MEANINGS, events.c.meaning_key, list(meanings), _CHUNK)
        }
        return seen_ids, seen_meanings

    def _load(self, conn: Connection, keys: set[str], now: str) -> dict[str, _Shipment]:
        found: dict[str, _Shipment] = {}
        key_list = sorted(keys)
        for r in rows_in(conn, _SHIPMENTS, shipments.c.key, key_list, _CHUNK):
            found[r.key] = _Shipment(
                key=r.key,
                state=_state_from_row(r),
                document=orjson.loads(r.document),
                counts={
                    "events_count": r.events_count,
                    "late_count": r.late_count,
                    "duplicate_count": r.duplicate_count,
                    "violation_count": r.violation_count,
                },
                created_at=r.created_at,
                exists=True,
            )
        for key in key_list:
            if key not in found:
                found[key] = _Shipment(
                    key=key,
                    state=ShipmentState(),
                    document={},
                    counts=dict.fromkeys(
                        ("events_count", "late_count", "duplicate_count", "violation_count"), 0
                    ),
                    created_at=now,
                    exists=False,
                )
        return found

    def _shipment_writes(self, ships: Iterable[_Shipment], now: str) -> list[PreparedWrite]:
        """The inserts of new shipments and the updates of known ones that a batch changed."""
        inserts, updates = [], []
        for ship in ships:
            if not ship.dirty:
                continue
            values = {
                **_state_columns(ship.state),
                **ship.counts,
                "document": orjson.dumps(ship.document).decode(),
                "updated_at": now,
            }
            if ship.exists:
                updates.append({"b_key": ship.key, **values})
            else:
                inserts.append({"key": ship.key, "created_at": ship.created_at, **values})
        # Plain values only (execute_many hands them to the driver on SQLite): the update
        # carries every column of _SHIPMENT_STATE_COLUMNS, in the shape of _state_columns.
        return [
            self.store.prepare_many(_INSERT_SHIPMENT, inserts),
            self.store.prepare_many(_UPDATE_SHIPMENT, updates),
        ]


def _delivery(row: Any) -> tuple[str, str]:
    return (row.partner, row.correlation_id)


def _rates(conn: Connection) -> Convert:
    """Currency conversion with the Odoo rates the sync stores (`connectors/odoo/sync/rates.py`),
    read through the deciding transaction's `conn`; None (no rate) holds the invoice."""
    from intermodal.connectors.odoo.sync.rates import convert

    def bound(amount: Decimal, from_currency: str, to_currency: str, on: datetime) -> Any:
        return convert(conn, amount, from_currency, to_currency, on.date())

    return bound
