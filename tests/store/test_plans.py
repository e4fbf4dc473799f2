"""PostgreSQL plans the hub's statements for the values they run with.

psycopg prepares a statement on the server after five runs, and PostgreSQL may then use
one generic plan for any values. The hub's dedup and queues are found through partial
indexes whose predicates SQLAlchemy binds as parameters (`outcome != 'duplicate'`), which
a generic plan cannot match to the index: it scanned the whole events table for every
applied batch. The store asks for custom plans on every connection (store/store.py,
`_custom_plans`).
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, text

from intermodal.store import open_store
from intermodal.store.store import rows_in
from intermodal.store.tables import events


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
