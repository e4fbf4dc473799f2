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
from tests.plans import explain, searches

_BACKLOG = text(
    "INSERT INTO outbox (command_id, endpoint, kind, subject, payload, correlation_id,"
    " status, attempts, next_attempt_at, created_at)"
    " SELECT 'cmd-' || n, 'portal', 'webhook', 'S-' || (n % 5000), '\\x7b7d', 'c', 'pending',"
    " 0, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'"
    " FROM generate_series(1, :count) n"
)


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
        plan = explain(store, statement, params)
        assert searches(plan, "earlier") <= 2 * 200, plan  # not one a due command
    finally:
        store.dispose()
