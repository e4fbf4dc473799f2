"""Group commits side by side on PostgreSQL (`GroupCommitter(commits=N)`), on real stores.

Many requests at once, a tenth of them repeats sent at the same moment as their first
copy, over three committer threads: every message is stored once and each repeat is
answered with its first copy's receipt. Two commits that wait for each other (a
deadlock, which PostgreSQL ends by rolling one back) are stored again, not answered 503.
SQLite keeps one committer: one writer at a time.
"""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
from psycopg import sql
from sqlalchemy import func, select

from intermodal.engine.inbox import GroupCommitter, InboxMessage, Receipt, store_groups
from intermodal.store import open_store
from intermodal.store.tables import inbox


def _message(n: int) -> InboxMessage:
    return InboxMessage("acme", f"m-{n}", "webhook", "application/json", b"{}", f"c-{n}", n % 64)


async def test_side_by_side_commits_store_each_message_once(pg_url: str) -> None:
    store = open_store(pg_url)
    committer = GroupCommitter(store, commits=3)
    committer.start()
    try:
        assert len([t for t in threading.enumerate() if t.name.startswith("inbox-group")]) >= 3
        firsts = [[_message(n)] for n in range(600)]
        repeats = [[_message(n)] for n in range(0, 600, 10)]
        tasks = []
        for wave in range(30):  # waves a millisecond apart: each thread takes some
            tasks += [asyncio.ensure_future(committer.submit(r)) for r in firsts[wave * 20 :][:20]]
            if wave:  # the previous wave's repeats, while their first copies may be in flight
                tasks += [asyncio.ensure_future(committer.submit(repeats[(wave - 1) * 2 + k]))
                          for k in range(2)]  # fmt: skip
            await asyncio.sleep(0.001)
        tasks += [asyncio.ensure_future(committer.submit(repeats[-2 + k])) for k in range(2)]
        results = await asyncio.gather(*tasks)
    finally:
        committer.stop()
    try:
        assert committer.rows == 660  # receipts, repeats included
        assert not committer.alive  # every thread stopped
        by_id: dict[str, list[Receipt]] = {}
        for (receipt,) in results:
            by_id.setdefault(receipt.receipt_id, []).append(receipt)
        assert len(by_id) == 600
        for copies in by_id.values():
            if len(copies) == 1:
                assert not copies[0].duplicate
                continue
            original, receipt = copies
            # whichever copy was stored first, both get its receipt; one is the duplicate
            assert receipt.receipt_id == original.receipt_id
            assert receipt.duplicate != original.duplicate
        with store.read() as conn:
            assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 600
    finally:
        store.dispose()


def test_sqlite_keeps_one_committer(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    committer = GroupCommitter(store, commits=4)
    committer.start()
    try:
        names = [t.name for t in threading.enumerate() if t.name.startswith("inbox-group")]
        assert names == ["inbox-group-commit-0"]
    finally:
        committer.stop()
        store.dispose()


def test_a_commit_ended_by_a_deadlock_is_stored_again(pg_url: str) -> None:
    """Another transaction holds m-2 (uncommitted) while the group inserts m-1 and waits on
    m-2; then the other inserts m-1 and waits on the group: a cycle. PostgreSQL rolls back
    the transaction whose deadlock check runs first, the group's (its wait began first,
    and the other's check is put off to 60 s); the group is stored again, waits for the
    other to commit, and answers both messages as the other's duplicates. PostgreSQL looks
    for a deadlock once per wait, `deadlock_timeout` after it began: 3 s for the group, so
    that the cycle is there when it looks, even on a slow machine."""
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET deadlock_timeout = '3s'").format(
                sql.Identifier(admin.info.dbname)
            )
        )
    store = open_store(pg_url)
    try:
        with psycopg.connect(plain) as other:
            other.execute("SET deadlock_timeout = '60s'")
            insert = (
                "INSERT INTO inbox (receipt_id, partner, message_id, channel, content_type,"
                " body, correlation_id, received_at, status)"
                " VALUES (%s, 'acme', %s, 'webhook', 'application/json', '\\x7b7d', 'c',"
                " '2026-12-05T00:00:00.000000Z', 'pending')"
            )
            other.execute(insert, ("rcpt_other_2", "m-2"))
            results: list[object] = []
            group = threading.Thread(
                target=lambda: results.extend(store_groups(store, [[_message(1), _message(2)]]))
            )
            group.start()
            deadline = time.monotonic() + 10
            while not _waiting(plain) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _waiting(plain), "the group never waited on the other transaction"
            other.execute(insert, ("rcpt_other_1", "m-1"))  # the cycle: the group is ended
            other.commit()
            group.join(20)
        [receipts] = results
        assert isinstance(receipts, list)
        assert [(r.receipt_id, r.duplicate) for r in receipts if isinstance(r, Receipt)] == [
            ("rcpt_other_1", True),
            ("rcpt_other_2", True),
        ]
    finally:
        store.dispose()


def _waiting(url: str) -> bool:
    """Whether a session of this database waits for another transaction's lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return bool(row and row[0])
