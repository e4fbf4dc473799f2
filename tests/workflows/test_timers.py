"""Durable timers: set with the state change, fired once through the inbox, across restarts
and racing workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from intermodal.config import Settings
from intermodal.engine.ids import iso
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.store import open_store
from intermodal.store.tables import cases, inbox, timers
from intermodal.workflows.timers import TimerWorker
from intermodal_sim.testing import running_hub, wait_until
from tests.workflows.helpers import Harness, at, flow_config, milestone, shipment

TOKEN = "odoo-token-for-timer-tests-0123456789"


def _settings(make_settings: Callable[..., Settings], db_url: str, due: str) -> Settings:
    settings = flow_config(
        make_settings,
        db_url,
        service_levels={"express": {"expected": {"picked_up": due, "delivered": "1d"}}},
        timer_poll_seconds=0.1,
    )
    return settings


def _post(hub: str, *events: dict[str, Any]) -> None:
    response = httpx.post(
        f"{hub}/v1/events",
        content=orjson.dumps(list(events)),
        headers={"authorization": f"bearer {TOKEN}", "content-type": "application/json"},
    )
    assert response.status_code == 202, response.text


def _count(url: str, table: Any, *where: Any) -> int:
    store = open_store(url)
    try:
        with store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where))
                       .scalar() or 0)  # fmt: skip
    finally:
        store.dispose()


def test_a_timer_due_while_the_hub_is_down_fires_once_after_the_restart(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(
        {
            "hub": {"database": db_url},
            "partners": {"odoo": {"kind": "odoo", "tokens": [{"token": "env:ODOO_T"}]}},
            "workflows": {
                # due 5 s after the booking: the first hub must be down by then, which
                # takes a few seconds of start, booking and shutdown on a loaded machine
                "service_levels": {"express": {"expected": {"picked_up": "5s", "delivered": "1d"}}},
                "timer_poll_seconds": 0.1,
            },
        },
        env={"ODOO_T": TOKEN},
    )
    now = datetime.now(UTC)
    booked = iso(now).replace(".000000", "")
    key = "SLA-RESTART"
    with running_hub(settings) as hub:
        _post(hub, shipment(key, booked, service_level="express"),
              milestone(key, "booked", booked))  # fmt: skip
        wait_until(lambda: _count(db_url, timers, timers.c.subject == key) == 2)
    # Down across the due time (5 s after the booking).
    remaining = (now + timedelta(seconds=5.3) - datetime.now(UTC)).total_seconds()
    time.sleep(max(remaining, 0))
    assert _count(db_url, timers, timers.c.status == "pending") == 2
    assert _count(db_url, cases) == 0
    with running_hub(settings):
        wait_until(lambda: _count(db_url, cases, cases.c.kind == "sla_breach") == 1)
        time.sleep(0.5)  # several more timer passes: nothing fires twice
    with running_hub(settings):
        time.sleep(0.5)
    assert _count(db_url, cases) == 1
    assert _count(db_url, timers, timers.c.status == "fired") == 1
    assert _count(db_url, timers, timers.c.status == "pending") == 1  # delivered: due in a day
    assert _count(db_url, inbox, inbox.c.channel == "timer") == 1
    assert _count(db_url, inbox, inbox.c.status != "applied") == 0


def test_racing_workers_fire_each_timer_once_and_cancelled_timers_never(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = _settings(make_settings, db_url, "1h")
    store = open_store(db_url)
    store.migrate()
    try:
        h = Harness(store, settings)
        for n in range(20):
            key = f"RACE-{n}"
            h.send("odoo", shipment(key, service_level="express"),
                   milestone(key, "booked", "2026-11-23T08:00:00Z"))  # fmt: skip
        # RACE-0 is picked up in time: its picked_up timer is cancelled.
        h.send("carrier", milestone("RACE-0", "picked_up", "2026-11-23T08:30:00Z"))
        assert _count(db_url, timers, timers.c.status == "cancelled") == 1
        workers = [TimerWorker(store, batch=7) for _ in range(3)]
        later = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # picked_up (1 h) is due, not delivered
        threads = [
            threading.Thread(target=lambda w=w: [w.fire_due(later) for _ in range(5)])
            for w in workers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(w.fired for w in workers) == 19
        h.apply()
        breaches = h.cases()
        assert sorted(c.subject for c in breaches) == sorted(f"RACE-{n}" for n in range(1, 20))
        assert {c.kind for c in breaches} == {"sla_breach"}
        assert breaches[0].reason == "picked_up expected by 2026-11-23T09:00:00Z"
        assert _count(db_url, inbox, inbox.c.channel == "timer") == 19
        # The late pickup closes the breach; the delivered timer stays pending.
        h.send("carrier", milestone("RACE-1", "picked_up", "2026-11-23T09:40:00Z"),
               milestone("RACE-1", "delivered", "2026-11-23T10:00:00Z"))  # fmt: skip
        (case,) = h.cases("RACE-1")
        assert case.status == "closed"
        assert h.flow_state("RACE-1", "sla") == "met"
    finally:
        store.dispose()


def test_a_timer_that_fires_after_its_cancel_does_nothing(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """The cancel and the worker race: the worker fired a timer the applier has just
    cancelled. The document says it is no longer pending, so no case is opened."""
    settings = _settings(make_settings, db_url, "1h")
    store = open_store(db_url)
    store.migrate()
    try:
        h = Harness(store, settings)
        h.send("odoo", shipment("LATE-CANCEL", service_level="express"),
               milestone("LATE-CANCEL", "booked", "2026-11-23T08:00:00Z"))  # fmt: skip
        TimerWorker(store).fire_due(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
        # The pickup (in time) is applied before the fired timer's message.
        h.send("carrier", milestone("LATE-CANCEL", "picked_up", "2026-11-23T08:50:00Z"))
        assert h.cases() == []
        assert h.flow_state("LATE-CANCEL", "sla") == "watching"
    finally:
        store.dispose()


def test_a_malformed_internal_message_is_rejected_with_its_reason(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    store = open_store(db_url)
    store.migrate()
    try:
        h = Harness(store, _settings(make_settings, db_url, "1h"))
        store_messages(store, [
            InboxMessage("intermodal", "tmr_bad", "timer", "application/json", b'{"x": 1}', "c1"),
            InboxMessage("intermodal", "closed:bad", "case", "application/json", b"[", "c2"),
        ])  # fmt: skip
        h.send("odoo", shipment("AFTER-BAD"), milestone("AFTER-BAD", "booked", at(8)))
        with store.read() as conn:
            rows = conn.execute(select(inbox.c.channel, inbox.c.status, inbox.c.error)
                                .where(inbox.c.partner == "intermodal")
                                .order_by(inbox.c.seq)).all()  # fmt: skip
        assert [(r.channel, r.status) for r in rows] == [
            ("timer", "rejected"),
            ("case", "rejected"),
        ]
        assert rows[0].error.startswith("not a timer message: ")
        assert rows[1].error.startswith("not a case message: ")
        assert h.flow_state("AFTER-BAD", "order_intake") == "tendered"  # the rest goes on
    finally:
        store.dispose()
