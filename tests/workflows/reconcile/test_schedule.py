"""The scheduled reconciliation on a real store: once per interval across nodes, counted
from the last run any node started, and only where the leader lease still holds."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from intermodal.engine.ids import parse_iso
from intermodal.store import Store, open_store
from intermodal.store.tables import reconciliation_runs
from intermodal.workflows.reconcile.run import run_forever
from intermodal.workflows.reconcile.settings import ReconcileConfig

EVERY = 0.6
CONFIG = ReconcileConfig(interval_seconds=EVERY)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.dispose()


def _starts(store: Store) -> list[float]:
    with store.read() as conn:
        stamps = conn.execute(
            select(reconciliation_runs.c.started_at).order_by(reconciliation_runs.c.started_at)
        ).scalars()
        return [parse_iso(s).timestamp() for s in stamps]


async def _run_for(seconds: float, *nodes: Coroutine[Any, Any, None]) -> None:
    """Run each node's scheduler for `seconds`, then stop them (a node dies, or steps down)."""
    tasks = [asyncio.create_task(node) for node in nodes]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_two_leaders_at_once_still_run_it_once_per_interval(store: Store) -> None:
    """Two nodes that both believe they lead (the moment a paused leader wakes up): the
    runs stay an interval apart, as one node's would."""

    async def scenario() -> None:
        both = [run_forever(store, CONFIG, lambda _conn: True) for _ in range(2)]
        await _run_for(EVERY * 3.5, *both)

    asyncio.run(scenario())
    starts = _starts(store)
    assert 2 <= len(starts) <= 4, starts
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= EVERY * 0.99 for gap in gaps), gaps


def test_a_node_that_no_longer_leads_starts_nothing(store: Store) -> None:
    async def scenario() -> None:
        await _run_for(EVERY * 2.5, run_forever(store, CONFIG, lambda _conn: False))

    asyncio.run(scenario())
    assert _starts(store) == []


def test_a_new_leader_counts_from_its_predecessors_last_run(store: Store) -> None:
    """The predecessor ran just now: the new leader waits out the rest of the interval
    instead of running at once or starting a whole interval again."""

    async def scenario() -> None:
        await _run_for(EVERY * 0.5, run_forever(store, CONFIG, lambda _conn: True))
        assert _starts(store) == []  # the first run comes after one interval
        await _run_for(EVERY * 1.3, run_forever(store, CONFIG, lambda _conn: True))
        first = _starts(store)
        assert len(first) == 1
        # a second node takes over right after that run: its first is an interval later
        await _run_for(EVERY * 0.5, run_forever(store, CONFIG, lambda _conn: True))
        assert _starts(store) == first

    asyncio.run(scenario())
