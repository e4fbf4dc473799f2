"""The inbox: raw messages stored durably, once, before anything answers 202.

Requests do not commit one by one. Each hands its rows to the `GroupCommitter`, whose
single thread writes everything that arrived while the previous commit was in flight in
one transaction, so one fsync covers many messages (group commit). A request's future
resolves only after its transaction has committed, which is what makes the 202 honest.

One request's bad value never fails another's: when the store refuses a value (ingress
checks every field first, so this is the last line), the group is split in halves and
each half committed on its own, down to the request at fault, which alone is refused
(`UnstorableMessage`, a 422); the others are stored (`store_groups`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanContext
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from intermodal.engine.ids import iso, sortable_ids, utcnow
from intermodal.errors import InvalidInput
from intermodal.observe import traces
from intermodal.observe.memory import gc_paused
from intermodal.observe.metrics import Metrics
from intermodal.store import Store
from intermodal.store.store import rows_for_pairs, write_many_pg
from intermodal.store.tables import inbox

log = logging.getLogger(__name__)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, 2 us an
# instance against 0.5 us, and a 10,000-event batch makes 10,000 messages and receipts
# (BENCHMARKS.md, W6). Nothing changes them after construction.
@dataclass(slots=True)
class InboxMessage:
    partner: str
    message_id: str
    channel: str
    content_type: str
    body: bytes
    correlation_id: str
    partition: int | None = None
    """Its shipment's partition when ingress knows it (engine/partitions.py); None: the
    appliers route it."""


@dataclass(slots=True)
class Receipt:
    receipt_id: str
    received_at: str
    duplicate: bool
    conflict: bool = False
    """A duplicate message id whose body differs from the stored one (answered 409)."""


_COLUMNS = (
    "receipt_id",
    "partner",
    "message_id",
    "channel",
    "content_type",
    "body",
    "correlation_id",
    "received_at",
    "status",
    "partition",
)
"""An inbox row as `_store_messages` builds it, in this order, for both stores."""
_SQLITE_INSERT = (
    f"INSERT OR IGNORE INTO inbox ({', '.join(_COLUMNS)})"  # noqa: S608 (constant names)
    f" VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_SQLITE_LOOKUP = (
    "SELECT message_id, receipt_id, received_at, body FROM inbox"
    " WHERE partner = ? AND message_id IN"
)
_LOOKUP_CHUNK = 400  # two parameters a key: well under SQLite's and psycopg's limits
# A whole group on PostgreSQL is one statement (`write_many_pg`, rows in the group's
# order, so `seq` follows it) whose RETURNING names the rows stored: only repeats are read.
_PG_INSERT = (
    postgresql.insert(inbox)
    .on_conflict_do_nothing(index_elements=["partner", "message_id"])
    .returning(inbox.c.receipt_id)
)


def store_messages(store: Store, messages: list[InboxMessage]) -> list[Receipt]:
    """Insert messages, skipping those already stored; return a receipt for each.

    A message seen before (same partner and message id, in an earlier batch or earlier in
    this one) is answered with its original receipt, never stored twice. This is the
    ingest hot path, so on SQLite it goes straight to the driver's `executemany`: building
    SQLAlchemy statements per batch cost more than the insert itself (BENCHMARKS.md, W1).
    On PostgreSQL a group is one statement (`store.write_many_pg`) whose RETURNING says
    which rows are new, so only repeats are read back: a statement per row and a
    read-back of every body cost 117 us of the hub's CPU per message.
    The cyclic collector is paused meanwhile: a group of thousands of row tuples would
    trigger collections that rescan them (observe.memory.gc_paused).
    """
    with gc_paused():
        return _store_messages(store, messages)


def _store_messages(store: Store, messages: list[InboxMessage]) -> list[Receipt]:
    if not messages:  # PostgreSQL would turn an empty executemany into INSERT DEFAULT VALUES
        return []
    now = iso(utcnow())
    first: dict[tuple[str, str], int] = {}
    rows: list[tuple[Any, ...]] = []
    ids = iter(sortable_ids("rcpt", len(messages)))
    for index, m in enumerate(messages):
        key = (m.partner, m.message_id)
        if key in first:
            continue
        first[key] = index
        receipt_id = next(ids)
        rows.append(
            (
                receipt_id,
                m.partner,
                m.message_id,
                m.channel,
                m.content_type,
                m.body,
                m.correlation_id,
                now,
                "pending",
                m.partition,
            )
        )
    with store.write() as conn:
        if store.is_sqlite:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.executemany(_SQLITE_INSERT, rows)
            all_new = cursor.rowcount == len(rows)
            stored = None if all_new else _lookup_sqlite(cursor, list(first))
            cursor.close()
        else:
            named = [dict(zip(_COLUMNS, r, strict=True)) for r in rows]
            result = write_many_pg(conn, _PG_INSERT, named)
            assert result is not None  # None only for no rows
            inserted = set(result.scalars())
            all_new = len(inserted) == len(rows)
            repeats = [(r[1], r[2]) for r in rows if r[0] not in inserted]
            stored = None if all_new else _lookup(conn, repeats)
    if all_new and len(rows) == len(messages):  # nothing seen before, no repeat within
        return [Receipt(r[0], now, False) for r in rows]
    ours = {(r[1], r[2]): (r[0], now, r[5]) for r in rows}
    stored = ours if stored is None else {**ours, **stored}
    receipts = []
    for index, m in enumerate(messages):
        key = (m.partner, m.message_id)
        receipt_id, received_at, stored_body = stored[key]
        duplicate = receipt_id != ours[key][0] or first[key] != index
        receipts.append(
            Receipt(receipt_id, received_at, duplicate, duplicate and stored_body != m.body)
        )
    return receipts


def _lookup(
    conn: Any, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str, bytes]]:
    return {
        (r.partner, r.message_id): (r.receipt_id, r.received_at, bytes(r.body))
        for r in rows_for_pairs(
            conn, _STORED, inbox.c.partner, inbox.c.message_id, keys, _LOOKUP_CHUNK
        )
    }


_STORED = select(
    inbox.c.partner, inbox.c.message_id, inbox.c.receipt_id, inbox.c.received_at, inbox.c.body
)
"""What a repeat is answered with; one statement for every group (store.where_one_of)."""


def _lookup_sqlite(
    cursor: Any, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str, bytes]]:
    """`_lookup` on the driver: with 10% re-deliveries most group commits hold one, and
    building the SQLAlchemy statement took 7% of a webhook's CPU (BENCHMARKS.md, W1).
    Same shape of query: `partner = ? AND message_id IN (...)`, an index search."""
    by_partner: dict[str, list[str]] = {}
    for partner, message_id in keys:
        by_partner.setdefault(partner, []).append(message_id)
    found: dict[tuple[str, str], tuple[str, str, bytes]] = {}
    for partner, ids in by_partner.items():
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))  # only placeholders go into the text
            sql = f"{_SQLITE_LOOKUP} ({marks})"
            cursor.execute(sql, (partner, *chunk))
            for message_id, receipt_id, received_at, body in cursor.fetchall():
                found[(partner, message_id)] = (receipt_id, received_at, bytes(body))
    return found


class UnstorableMessage(InvalidInput):
    """The store refused a value of this request's messages, and only of this request's:
    the rest of its group commit was stored without it. Sending it again unchanged gives
    the same answer, so it is a 422, never a 503 to retry. Says which kind of refusal,
    never the value (it may be personal data)."""

    code = "unstorable"

    def __init__(self, refusal: str) -> None:
        super().__init__(
            f"the store cannot hold a value of this message ({refusal}): a text with U+0000"
            " or longer than its field allows; nothing of it was stored"
        )
        self.refusal = refusal


_REFUSED_VALUE = (
    sa_exc.DataError,  # PostgreSQL: NUL in text, a value too long or out of range
    sa_exc.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    ValueError,  # a driver refusing a value before sending it (UnicodeEncodeError)
    OverflowError,  # an integer the driver cannot bind
)


def refused_a_value(exc: BaseException) -> bool:
    """Whether the store refused a value (the fault of the message holding it) rather
    than failing itself (down, locked, out of space), which every message shares."""
    return isinstance(exc, _REFUSED_VALUE)


def _deadlocked(exc: BaseException) -> bool:
    """PostgreSQL's "deadlock detected" (SQLSTATE 40P01): the transaction was rolled back
    and can run again."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "40P01"


def _refusal(exc: BaseException) -> str:
    """The refusal's kind by class (`DataError`), never its text: a driver's message and
    SQLAlchemy's statement dump quote the values."""
    original = getattr(exc, "orig", None)
    return type(original if isinstance(original, BaseException) else exc).__name__


def store_groups(store: Store, groups: list[list[InboxMessage]]) -> list[list[Receipt] | Exception]:
    """Store several requests' messages in one transaction; per request, its receipts or
    why they were not stored.

    The usual group is one commit. When the store refuses a value, the group is split in
    halves and each half stored in its own transaction, recursively, so the request at
    fault gets `UnstorableMessage` and every other request is stored (2 log2(n) commits
    for one bad request among n). A store that fails itself gives its exception to every
    request not stored by then; a half stored before it failed keeps its receipts, and a
    sender told 503 that sends again gets its first receipt back as a duplicate.

    Two commits side by side that hold a message each of the other's (a partner's retry
    of a request still in flight on another worker or node, with another order of its
    messages) wait for each other; PostgreSQL ends one of them with a deadlock error, and
    that group is stored again, once, answering those messages as duplicates.
    """
    messages = groups[0] if len(groups) == 1 else [m for group in groups for m in group]
    try:
        try:
            receipts = store_messages(store, messages)
        except Exception as exc:
            if not _deadlocked(exc):
                raise
            log.info("inbox group commit chosen as a deadlock's victim; storing it again")
            receipts = store_messages(store, messages)
    except Exception as exc:
        if not refused_a_value(exc):
            return [exc] * len(groups)
        if len(groups) == 1:
            return [UnstorableMessage(_refusal(exc))]
        half = len(groups) // 2
        return store_groups(store, groups[:half]) + store_groups(store, groups[half:])
    if len(groups) == 1:
        return [receipts]
    out: list[list[Receipt] | Exception] = []
    offset = 0
    for group in groups:
        out.append(receipts[offset : offset + len(group)])
        offset += len(group)
    return out


# The last item is the submitting request's span (None when tracing is off).
_Job = tuple[
    list[InboxMessage],
    asyncio.Future[list[Receipt]],
    asyncio.AbstractEventLoop,
    SpanContext | None,
]


class GroupCommitter:
    """Writer threads that commit the messages of many concurrent requests together.

    Each thread takes what has queued since it last committed, so under load a commit
    carries every request that arrived while the one before it ran. On SQLite one thread:
    there is one writer at a time. On PostgreSQL `commits` threads (`hub.ingest_commits`,
    default 2), so one group is inserted while the one before waits for its commit's WAL
    flush and round trips: with one, a worker's committer was in a transaction 94% of the
    time and was what limited a node (BENCHMARKS.md, "Group commits side by side").
    Commits side by side are what several workers and nodes already make: a message
    repeated in two of them is stored once and the other answered as its duplicate
    (`store_groups`).
    """

    def __init__(
        self,
        store: Store,
        max_rows: int = 20_000,
        on_commit: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        commits: int = 1,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._max_rows = max_rows
        self._on_commit = on_commit
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"inbox-group-commit-{i}", daemon=True)
            for i in range(1 if store.is_sqlite else max(1, commits))
        ]
        self._counts = threading.Lock()
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    async def submit(self, messages: list[InboxMessage]) -> list[Receipt]:
        """Store the messages with the next commit; returns once it is durable.

        Ingress that has no span of its own (Odoo webhooks and polling,
        EDI) gets the root span its correlation id names here (observe/traces.py).
        """
        if messages and traces.tracer() is not None and traces.current_span_context() is None:
            first = messages[0]
            attributes = {"intermodal.partner": first.partner, "intermodal.messages": len(messages)}
            with traces.ingress_span(
                f"ingress {first.channel}", first.correlation_id, {}, attributes
            ):
                return await self._enqueue(messages)
        return await self._enqueue(messages)

    async def _enqueue(self, messages: list[InboxMessage]) -> list[Receipt]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Receipt]] = loop.create_future()
        self._jobs.put((messages, future, loop, traces.current_span_context()))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            rows = len(job[0])
            with self._store.writer_turn():  # wait for the lock, then gather the group
                began = time.perf_counter()
                while rows < self._max_rows:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    jobs.append(more)
                    rows += len(more[0])
                started_ns = time.time_ns()
                results = store_groups(self._store, [batch for batch, _, _, _ in jobs])
            held = time.perf_counter() - began
            self._answer(jobs, results, started_ns, held)  # outside the lock: InboxWriter._answer
            # Drop the batch before blocking for the next one: held here while the hub is
            # idle, a 10,000-event batch's bodies stayed resident (BENCHMARKS.md, W5).
            jobs.clear()
            job = more = None

    def _answer(
        self,
        jobs: list[_Job],
        results: list[list[Receipt] | Exception],
        started_ns: int,
        held: float,
    ) -> None:
        stored = [len(r) for r in results if not isinstance(r, Exception)]
        if stored:
            rows = sum(stored)
            with self._counts:
                self.batches += 1
                self.rows += rows
            if self._metrics is not None:
                self._metrics.group_commit_rows.observe(rows)
                self._metrics.store_write_seconds.labels("ingest").observe(held)
            if traces.tracer() is not None:
                traces.record_group_commit((j[3] for j in jobs), started_ns, rows, len(stored))
        by_loop: dict[
            asyncio.AbstractEventLoop,
            list[tuple[asyncio.Future[list[Receipt]], list[Receipt] | Exception]],
        ] = {}
        for (_, future, loop, _), result in zip(jobs, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, answers)
        if stored and self._on_commit is not None:
            self._on_commit()


def _resolve_all(
    answers: list[tuple[asyncio.Future[list[Receipt]], list[Receipt] | Exception]],
) -> None:
    """Each waiting request's receipts, or why they were not stored: a failed store
    (every request 503) or a value it refused (that request alone 422)."""
    for future, answer in answers:
        if future.done():
            continue
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)
