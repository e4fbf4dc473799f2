"""Dispatchers claiming side by side on one PostgreSQL database never claim a command
another one holds: six of them race through a backlog, claiming without delivering, and
no command is claimed twice within its lease.

Under READ COMMITTED a claim sees the outbox as its statement began; a command another
dispatcher leased after that is re-checked only when it is locked, and only against the
conditions on its own row. A claim that tested the lease in a subquery alone claimed
such commands a second time (200-260 of the 4,000 here)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise

from sqlalchemy import text

from intermodal.config import Settings
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.store import open_store
from tests.outbox.test_claim_plan import _BACKLOG
from tests.outbox.test_dispatcher import settings_for

DISPATCHERS = 6
COMMANDS = 4000


def test_dispatchers_racing_through_a_backlog_never_claim_a_held_command(
    pg_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_for(make_settings, "http://127.0.0.1:9/")
    stores = [open_store(pg_url) for _ in range(DISPATCHERS)]
    try:
        with stores[0].write() as conn:
            conn.execute(_BACKLOG, {"count": COMMANDS})
        claims: dict[int, list[float]] = defaultdict(list)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def run(k: int) -> None:
            dispatcher = Dispatcher(stores[k], settings, claim_batch=20)
            try:
                while rows := dispatcher._claim():
                    now = time.monotonic()
                    with lock:
                        for row in rows:
                            claims[row.seq].append(now)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(DISPATCHERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(claims) == COMMANDS
        # A claim lasts 10 s without a heartbeat: a command claimed again sooner was held.
        twice = [seq for seq, at in claims.items() if any(b - a < 8 for a, b in pairwise(at))]
        assert twice == [], f"{len(twice)} commands claimed while another dispatcher held them"
        with stores[0].read() as conn:
            leased = conn.execute(
                text("SELECT count(*) FROM outbox WHERE lease_until IS NOT NULL")
            ).scalar()
        assert leased == COMMANDS
    finally:
        for store in stores:
            store.dispose()
