"""What an applier claims for its next batch, on a real SQLite file and a real PostgreSQL
database: the first pending messages of its partitions in inbox order, never past a
message that is unrouted or spans partitions; and on PostgreSQL, a claim reads about as
many rows as it takes, however deep the backlog and whatever the statistics say."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, text, update

from intermodal.config import Settings
from intermodal.engine.applier import Applier
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.engine.partitions import SPAN
from intermodal.store import Store, open_store
from intermodal.store.tables import inbox
from tests.conftest import new_secret
from tests.plans import explain, rows_read

P = 16
_ENV = {"ACME_S": new_secret()}


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.dispose()


def _applier(store: Store, make_settings: Callable[..., Settings]) -> Applier:
    settings = make_settings(
        {"hub": {"partitions": P}, "partners": {"acme": {"webhook_secrets": ["env:ACME_S"]}}},
        env=_ENV,
    )
    return Applier(store, settings)


def _inbox(store: Store, rng: random.Random, count: int, unrouted: float) -> None:
    """`count` messages in random partitions (a share unrouted or spanning), a third of
    them already applied."""
    messages = []
    for n in range(count):
        m = InboxMessage("acme", f"m-{n}", "webhook", "application/json", b"{}", f"c-{n}")
        draw = rng.random()
        m.partition = None if draw < unrouted / 2 else SPAN if draw < unrouted else rng.randrange(P)
        messages.append(m)
    store_messages(store, messages)
    done = [n + 1 for n in range(count) if rng.random() < 1 / 3]
    with store.write() as conn:
        conn.execute(update(inbox).where(inbox.c.seq.in_(done)).values(status="applied"))


def _expected(store: Store, limit: int, held: set[int] | None) -> list[int]:
    with store.read() as conn:
        rows = conn.execute(
            select(inbox.c.seq, inbox.c.partition)
            .where(inbox.c.status == "pending")
            .order_by(inbox.c.seq)
        ).all()
    if held is None:
        return [r.seq for r in rows[:limit]]
    taken = []
    for r in rows:
        if r.partition is None or r.partition < 0:
            break  # the barrier: nothing of a partition after an unrouted or spanning one
        if r.partition in held and len(taken) < limit:
            taken.append(r.seq)
    return taken


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_claim_is_the_first_pending_messages_of_its_partitions_in_inbox_order(
    store: Store, make_settings: Callable[..., Settings], seed: int
) -> None:
    rng = random.Random(seed)
    _inbox(store, rng, 400, unrouted=0.02 if seed < 3 else 0.0)
    applier = _applier(store, make_settings)
    for held in [
        None,
        set(range(P)),
        {3},
        set(range(0, P, 3)),
        {rng.randrange(P) for _ in range(5)},
    ]:
        for limit in (1, 7, 50, 1000):
            with store.read() as conn:
                got = applier._pending(conn, limit, dict.fromkeys(held, 1) if held else None)
            assert [r.seq for r in got] == _expected(store, limit, held), (held, limit)
            assert all(bytes(r.body) == b"{}" for r in got)


def test_a_claim_on_postgresql_reads_what_it_takes_behind_a_deep_backlog(
    pg_url: str, make_settings: Callable[..., Settings]
) -> None:
    """20,000 pending messages, never analyzed: PostgreSQL once read them all for every
    batch of 100 (and sorted them), so a backlog drained in quadratic time."""
    store = open_store(pg_url)
    try:
        with store.write() as conn:
            conn.execute(_BACKLOG, {"count": 20_000, "partitions": P})
        applier = _applier(store, make_settings)
        for held, most in ((None, 100), ({2, 5, 11}, 3 * 100)):
            statements: list[tuple[str, Any]] = []

            def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
                statements.append((statement, params))

            event.listen(store.engine, "before_cursor_execute", capture)
            try:
                with store.read() as conn:
                    got = applier._pending(conn, 100, dict.fromkeys(held, 1) if held else None)
            finally:
                event.remove(store.engine, "before_cursor_execute", capture)
            assert len(got) == 100
            [claim] = [
                i for i, (st, _) in enumerate(statements) if "FROM inbox" in st and "ORDER BY" in st
            ]
            plan = explain(store, *statements[claim], before=statements[:claim])
            assert rows_read(plan) <= 2 * most + 100, (held, plan)
    finally:
        store.dispose()


_BACKLOG = text(
    "INSERT INTO inbox (receipt_id, partner, message_id, channel, content_type, body,"
    " correlation_id, received_at, status, partition)"
    " SELECT 'rcpt_' || n, 'acme', 'm-' || n, 'webhook', 'application/json', '\\x7b7d',"
    " 'c-' || n, '2026-12-05T00:00:00.000000Z', 'pending', n % :partitions"
    " FROM generate_series(1, :count) n"
)
