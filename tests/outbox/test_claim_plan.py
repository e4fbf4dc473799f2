"""A dispatcher's claim behind a deep backlog on PostgreSQL checks the order rule on about
the commands it claims, not on every due command (a never-analyzed outbox, as after an
outage on a new database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text

from intermodal.config import Settings
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.store import open_store
from tests.outbox.test_dispatcher import settings_for

_BACKLOG = text(
    "INSERT INTO outbox (command_id, endpoint, kind, subject, payload, correlation_id,"
    " status, attempts, next_attempt_at, created_at)"
    " SELECT 'cmd-' || n, 'portal', 'webhook', 'S-' || (n % 5000), '\\x7b7d', 'c', 'pending',"
    " 0, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'"
    " FROM generate_series(1, :count) n"
)


def _probes(plan: dict[str, Any], alias: str) -> int:
    """How many times the plan searched `alias` (the order rule's earlier commands)."""
    own = plan["Actual Loops"] if plan.get("Alias") == alias else 0
    return own + sum(_probes(child, alias) for child in plan.get("Plans", []))


def test_a_claim_behind_a_deep_backlog_checks_about_what_it_claims(
    pg_url: str, make_settings: Callable[..., Settings]
) -> None:
    store = open_store(pg_url)
    try:
        with store.write() as conn:
            conn.execute(_BACKLOG, {"count": 20_000})
        dispatcher = Dispatcher(
            store, settings_for(make_settings, "http://127.0.0.1:9/"), claim_batch=200
        )
        statements: list[tuple[str, Any]] = []

        def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            if "FOR UPDATE" in statement and "earlier" in statement:
                statements.append((statement, params))

        event.listen(store.engine, "before_cursor_execute", capture)
        try:
            claimed = dispatcher._claim()
        finally:
            event.remove(store.engine, "before_cursor_execute", capture)
        assert [r.seq for r in claimed] == list(range(1, 201))  # the oldest, in order
        [(statement, params)] = statements
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = cursor.fetchone()[0][0]["Plan"]
        finally:
            raw.rollback()
            raw.close()
        assert _probes(plan, "earlier") <= 2 * 200, plan  # not one a due command
    finally:
        store.dispose()
