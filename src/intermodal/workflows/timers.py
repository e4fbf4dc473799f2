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
from datetime import datetime

import orjson
from sqlalchemy import select, update

from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.store import Store
from intermodal.store.tables import inbox, timers

log = logging.getLogger(__name__)

TIMER_PARTNER = "intermodal"
TIMER_CHANNEL = "timer"


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
        self._insert = store.insert_ignoring(inbox, ["partner", "message_id"])

    def fire_due(self, now: datetime | None = None) -> int:
        """Fire every timer due by `now`; returns how many fired in this pass."""
        at = iso(now or utcnow())
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

    async def run(self) -> None:
        """Fire due timers every `poll_seconds` until cancelled."""
        while True:
            try:
                while await asyncio.to_thread(self.fire_due) >= self.batch:
                    pass
            except Exception:
                log.exception("timer pass failed; next try in %ss", self.poll_seconds)
            await asyncio.sleep(self.poll_seconds)
