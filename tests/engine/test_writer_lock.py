"""SQLite's writer lock as the applier reports it: `intermodal_store_write_seconds`
{stage="apply"} is the time a batch held the lock, the serial part of a SQLite node."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from intermodal.config import Settings
from intermodal.engine.applier import Applier
from intermodal.engine.inbox import store_messages
from intermodal.store import open_store
from tests.engine.test_engine import message, milestone, settings_for


def test_apply_counts_the_writer_lock_held_not_the_wait_for_it(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """`intermodal_store_write_seconds{stage="apply"}` is how long a batch held SQLite's
    writer lock: an operator sums it with ingest's to see whether the lock limits the
    node, so the time spent queueing behind another writer must not count."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store, other = open_store(url), open_store(url, migrate=False)
    try:
        store_messages(
            store,
            [message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z"))],
        )
        applier = Applier(store, settings_for(make_settings))
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with other.write() as conn:  # another process's writer, in effect
                conn.execute(text("UPDATE hub_meta SET value = value"))
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(10)
        threading.Timer(0.4, release.set).start()
        began = time.perf_counter()
        result = applier.run_once()
        waited = time.perf_counter() - began
        holder.join()
        assert result.messages == 1 and waited >= 0.4
        assert 0 < result.write_seconds < 0.3
    finally:
        store.dispose()
        other.dispose()
