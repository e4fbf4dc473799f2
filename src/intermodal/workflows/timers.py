"""Durable timers: rows of `timers`, fired once each by turning them into inbox messages.

The flows set timers (same transaction as the state change that set them). This worker
claims the due ones and, in ONE transaction per pass, inserts for each an inbox message
(partner `intermodal`, channel `timer`, message id = the timer id) and marks it fired.
The inbox's unique (partner, message_id) key makes a second firing impossible, even if
two hub processes (PostgreSQL) or a crash and a restart race on the same timer; and
because the firing reaches the flows through the inbox, the applier stays the only
writer of shipments (which SQLite needs). A timer whose due time passed while the hub was
down fires at the first pass after the restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
from sqlalchemy import Connection, func, select, update

from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.store import Store
from intermodal.store.tables import audit, cases, inbox, timers

log = logging.getLogger(__name__)

TIMER_PARTNER = "intermodal"
TIMER_CHANNEL = "timer"
CASE_CHANNEL = "case"
DOCUMENT_READ_CHANNEL = "document.read"
"""A document was read (foresight/documents_reader.py): the flows' `document.read`."""
ODOO_CHANNEL = "odoo"
"""What the Odoo connector found Odoo did not do (outbox/sinks.py `FollowUp`)."""
INTERNAL_CHANNELS = frozenset({TIMER_CHANNEL, CASE_CHANNEL, DOCUMENT_READ_CHANNEL, ODOO_CHANNEL})
"""Inbox channels the hub writes to itself (partner `intermodal`), read by the flows."""


_CLOSE_OVERLAP = timedelta(minutes=5)


def _minus(stamp: str, delta: timedelta) -> str:
    if not stamp:
        return ""
    return iso(datetime.fromisoformat(stamp) - delta)


def _closers(conn: Connection, case_ids: list[str]) -> dict[str, dict[str, str]]:
    """Who closed each case, and their note (the tower's `cases.close` audit entry): the
    feedback the case's Odoo activities are marked done with."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(case_ids), 500):
        for row in conn.execute(
            select(audit.c.subject, audit.c.actor, audit.c.detail).where(
                audit.c.action == "cases.close",
                audit.c.subject.in_(case_ids[start : start + 500]),
            )
        ):
            try:
                note = str(orjson.loads(row.detail).get("note") or "")
            except (orjson.JSONDecodeError, AttributeError):
                note = ""
            found[row.subject] = {"closed_by": row.actor, **({"note": note} if note else {})}
    return found


class TimerWorker:
    def __init__(
        self,
        store: Store,
        poll_seconds: float = 1.0,
        on_fired: Callable[[], None] | None = None,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.on_fired = on_fired
        self.batch = batch
        self.fired = 0
        self.posted_closes = 0
        self._closed_since: str | None = None
        self._posted: dict[str, str] = {}  # case id -> closed_at, within the re-read window
        self._insert = store.insert_ignoring(inbox, ["partner", "message_id"])

    def fire_due(self, now: datetime | None = None) -> int:
        """Fire every timer due by `now`; returns how many fired in this pass."""
        at = iso(now or utcnow())
        # Look before taking the write lock (SQLite has one for the whole file): most
        # passes find nothing due, and must not make the inbox writer wait.
        with self.store.read() as conn:
            due = conn.execute(
                select(timers.c.seq)
                .where(timers.c.status == "pending", timers.c.due_at <= at)
                .limit(1)
            ).first()
        if due is None:
            return 0
        with self.store.write() as conn:
            query = (
                select(
                    timers.c.timer_id,
                    timers.c.subject,
                    timers.c.kind,
                    timers.c.due_at,
                    timers.c.payload,
                )
                .where(timers.c.status == "pending", timers.c.due_at <= at)
                .order_by(timers.c.due_at)
                .limit(self.batch)
            )
            rows = conn.execute(self.store.for_update(query, skip_locked=True)).all()
            for row in rows:
                body = {
                    "timer_id": row.timer_id,
                    "subject": row.subject,
                    "kind": row.kind,
                    "due_at": row.due_at,
                    "payload": orjson.loads(row.payload),
                }
                conn.execute(
                    self._insert.values(
                        receipt_id=sortable_id("rcpt"),
                        partner=TIMER_PARTNER,
                        message_id=row.timer_id,
                        channel=TIMER_CHANNEL,
                        content_type="application/json",
                        body=orjson.dumps(body),
                        correlation_id=sortable_id("corr"),
                        received_at=at,
                        status="pending",
                    )
                )
                conn.execute(
                    update(timers)
                    .where(timers.c.timer_id == row.timer_id, timers.c.status == "pending")
                    .values(status="fired", fired_at=at)
                )
        if rows:
            self.fired += len(rows)
            log.info("fired %d timer(s)", len(rows))
            if self.on_fired is not None:
                self.on_fired()
        return len(rows)

    def post_closed_cases(self) -> int:
        """Tell the flows about cases a person closed (the control tower only updates the
        `cases` row): one inbox message per closed case (channel `case`, message id
        `closed:<case id>`, so the inbox key makes it once, across restarts and processes).
        The flows drop the ones they closed themselves; a closed billing dispute releases a
        held invoice; the case's Odoo activities are marked done, with who closed it and
        their note (from the audit chain) as the feedback.

        Each pass reads the cases closed since a few minutes before the newest one posted
        (a close committed late with an earlier stamp is not missed) and skips those this
        worker posted already; only when something is new does it take the write lock."""
        with self.store.read() as conn:
            if self._closed_since is None:  # after a start: from the last one posted
                self._closed_since = (
                    conn.execute(
                        select(func.max(inbox.c.received_at)).where(
                            inbox.c.partner == TIMER_PARTNER, inbox.c.channel == CASE_CHANNEL
                        )
                    ).scalar()
                    or ""
                )
            since = _minus(self._closed_since, _CLOSE_OVERLAP)
            rows = [
                row
                for row in conn.execute(
                    select(cases.c.case_id, cases.c.subject, cases.c.kind, cases.c.closed_at)
                    .where(cases.c.status == "closed", cases.c.closed_at >= since)
                    .order_by(cases.c.closed_at)
                )
                if row.case_id not in self._posted
            ]
        # Forget what fell out of the window: it will not be read again.
        self._posted = {k: v for k, v in self._posted.items() if v >= since}
        if not rows:
            return 0
        at = iso(utcnow())
        posted = 0
        with self.store.read() as conn:
            closers = _closers(conn, [row.case_id for row in rows])
        with self.store.write() as conn:
            for row in rows:
                body = {"case_id": row.case_id, "subject": row.subject, "kind": row.kind,
                        "closed_at": row.closed_at, **closers.get(row.case_id, {})}  # fmt: skip
                inserted = conn.execute(
                    self._insert.values(
                        receipt_id=sortable_id("rcpt"),
                        partner=TIMER_PARTNER,
                        message_id=f"closed:{row.case_id}",
                        channel=CASE_CHANNEL,
                        content_type="application/json",
                        body=orjson.dumps(body),
                        correlation_id=sortable_id("corr"),
                        received_at=at,
                        status="pending",
                    ).returning(inbox.c.seq)  # rowcount of an ignored insert varies by driver
                ).first()
                posted += inserted is not None
        for row in rows:
            self._posted[row.case_id] = row.closed_at
        self._closed_since = max(self._closed_since, rows[-1].closed_at)
        if posted:
            self.posted_closes += posted
            if self.on_fired is not None:
                self.on_fired()
        return posted

    async def run(self) -> None:
        """Fire due timers (and post closed cases) every `poll_seconds` until cancelled."""
        while True:
            try:
                while await asyncio.to_thread(self.fire_due) >= self.batch:
                    pass
                await asyncio.to_thread(self.post_closed_cases)
            except Exception:
                log.exception("timer pass failed; next try in %ss", self.poll_seconds)
            await asyncio.sleep(self.poll_seconds)
