"""PostgreSQL plans the hub's statements for the values they run with.

psycopg prepares a statement on the server after five runs, and PostgreSQL may then use
one generic plan for any values. The hub's dedup and queues are found through partial
indexes whose predicates SQLAlchemy binds as parameters (`outcome != 'duplicate'`), which
a generic plan cannot match to the index: it scanned the whole events table for every
applied batch. The store asks for custom plans on every connection (store/store.py,
`_custom_plans`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, insert, select, text

from intermodal.store import open_store
from intermodal.store.store import rows_for_pairs, rows_in
from intermodal.store.tables import events
from tests.plans import explain, rows_read


def _event(n: int, outcome: str) -> dict[str, object]:
    return {
        "event_id": f"e-{n}", "partner": "acme", "source": "/acme", "type": "shipment.milestone",
        "subject": f"S-{n % 50}", "time": "2026-12-05T00:00:00Z", "milestone": "in_transit",
        "occurred_at": "2026-12-05T00:00:00Z", "meaning_key": f"mk-{n}", "outcome": outcome,
        "inbox_seq": n, "receipt_id": f"r-{n}", "recorded_at": "2026-12-05T00:00:00Z",
        "correlation_id": f"c-{n}", "data": "{}",
    }  # fmt: skip


def test_a_statement_run_many_times_is_planned_for_the_values_of_each_run(
    pg_url: str,
) -> None:
    store = open_store(pg_url)
    try:
        with store.write() as conn:
            conn.execute(  # not analyzed yet, as a new node's tables, or ones that just grew
                insert(events),
                [_event(n, "duplicate" if n % 10 == 0 else "applied") for n in range(2_000)],
            )
        query = select(events.c.meaning_key).where(events.c.outcome != "duplicate")
        with store.read() as conn:
            for round_ in range(12):  # prepared on the server from the sixth run on
                keys = [f"mk-{n}" for n in range(round_, 2_000, 20)]  # a batch: 100
                found = {r.meaning_key for r in rows_in(conn, query, events.c.meaning_key, keys)}
                assert found == {k for k in keys if int(k[3:]) % 10}
            plans = conn.execute(
                select(
                    func.sum(text("generic_plans")), func.sum(text("custom_plans"))
                ).select_from(text("pg_prepared_statements"))
                .where(text("statement LIKE '%meaning_key = ANY%'"))
            ).one()  # fmt: skip
        assert plans == (0, 7)  # runs six to twelve, each planned for its values
    finally:
        store.dispose()


_MANY_EVENTS = text(
    "INSERT INTO events (event_id, partner, source, type, subject, time, milestone,"
    " occurred_at, meaning_key, outcome, inbox_seq, receipt_id, recorded_at, correlation_id,"
    " data) SELECT 'e-' || n, 'acme', '/acme', 'shipment.milestone', 'S-' || (n % 50),"
    " '2026-12-05T00:00:00Z', 'in_transit', '2026-12-05T00:00:00Z', 'mk-' || n, 'applied', n,"
    " 'r-' || n, '2026-12-05T00:00:00Z', 'c-' || n, '{}' FROM generate_series(0, :count - 1) n"
)


def test_a_lookup_of_pairs_reads_about_the_rows_it_asks_for_on_a_table_never_analyzed(
    pg_url: str,
) -> None:
    store = open_store(pg_url)
    try:
        with store.write() as conn:  # one partner's 30,000 events, no statistics yet
            conn.execute(_MANY_EVENTS, {"count": 30_000})
        asked = [("acme", f"e-{n}") for n in range(0, 30_000, 300)] + [("acme", "e-none")]
        seen: list[tuple[str, Any]] = []

        def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            seen.append((statement, params))

        query = select(events.c.partner, events.c.event_id).where(events.c.outcome != "duplicate")
        event.listen(store.engine, "before_cursor_execute", capture)
        try:
            with store.read() as conn:
                found = set(rows_for_pairs(conn, query, events.c.partner, events.c.event_id, asked))
        finally:
            event.remove(store.engine, "before_cursor_execute", capture)
        assert {(r.partner, r.event_id) for r in found} == set(asked[:-1])
        [(statement, params)] = seen
        plan = explain(store, statement, params)
        assert rows_read(plan) <= 2 * len(asked), plan  # not a partner's every event
    finally:
        store.dispose()
