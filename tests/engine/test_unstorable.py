"""A group commit the store refuses for one request's value stores every other request.

Ingress refuses such values at the door; these tests hand the committers messages that
skipped it (as a bug or a new channel might), on real SQLite files and PostgreSQL
databases: the request at fault gets `UnstorableMessage` (a 422, never a 503 to retry),
its group's other requests get their receipts and rows, and the refusal names no value.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from intermodal.engine.applier import unapplicable
from intermodal.engine.commit_relay import (
    InboxWriter,
    RelayCommitter,
    decode_receipts,
    encode_messages,
)
from intermodal.engine.inbox import (
    GroupCommitter,
    InboxMessage,
    Receipt,
    UnstorableMessage,
    store_groups,
)
from intermodal.store import Store, open_store
from intermodal.store.tables import inbox

SECRET = "Ada Lovelace, 12 Plantedstraat"


def _message(n: int, **changes: object) -> InboxMessage:
    message = InboxMessage("acme", f"m-{n}", "webhook", "application/json", b"{}", f"c-{n}", 1)
    for name, value in changes.items():
        setattr(message, name, value)
    return message


def _bad(store: Store) -> list[InboxMessage]:
    """Messages this store refuses for a value: an integer no column holds anywhere, and on
    PostgreSQL text with U+0000 and an id longer than its column."""
    bad = [_message(900, partition=2**70)]
    if not store.is_sqlite:
        bad += [_message(901, message_id=f"{SECRET}\x00"), _message(902, message_id="x" * 300)]
    return bad


def _rows(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(select(inbox.c.message_id)).scalars())


@pytest.fixture
def store(db_url: str) -> Store:
    return open_store(db_url)


def test_store_groups_stores_every_group_but_the_one_at_fault(store: Store) -> None:
    for bad in _bad(store):
        groups = [[_message(10 * k + i) for i in range(3)] for k in range(7)]
        groups[4] = [_message(40), bad]  # its good message goes with it: a request is whole
        results = store_groups(store, groups)
        assert isinstance(results[4], UnstorableMessage)
        assert SECRET not in str(results[4]) and "x" * 300 not in str(results[4])
        stored = [r for k, r in enumerate(results) if k != 4]
        assert all(isinstance(r, list) and len(r) == 3 for r in stored)
        assert _rows(store) >= {f"m-{10 * k + i}" for k in range(7) if k != 4 for i in range(3)}
        assert "m-40" not in _rows(store) and bad.message_id not in _rows(store)
        with store.write() as conn:
            conn.execute(inbox.delete())


def test_a_failed_store_still_fails_every_request(tmp_path: Path) -> None:
    """A store that fails itself (here: no inbox table) is no one message's fault: every
    request gets the failure (a 503 at the API), nothing is split."""
    broken = open_store(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    results = store_groups(broken, [[_message(1)], [_message(2)]])
    assert all(isinstance(r, Exception) and not isinstance(r, UnstorableMessage) for r in results)


async def test_the_group_committer_refuses_only_the_request_at_fault(store: Store) -> None:
    committer = GroupCommitter(store)
    requests = [[_message(n)] for n in range(12)]
    requests[5] = [_message(5), _bad(store)[-1]]
    tasks = [asyncio.ensure_future(committer.submit(r)) for r in requests]
    await asyncio.sleep(0.05)  # every request queued before the thread gathers: one group
    committer.start()
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        committer.stop()
    assert isinstance(results[5], UnstorableMessage)
    others = [r for n, r in enumerate(results) if n != 5]
    assert all(isinstance(r, list) and isinstance(r[0], Receipt) for r in others)
    assert _rows(store) == {f"m-{n}" for n in range(12) if n != 5}
    assert committer.rows == 11


async def test_the_inbox_writer_refuses_only_the_workers_request_at_fault(
    pg_url: str, tmp_path: Path
) -> None:
    """Three requests in one read of the socket (so one group): the middle one's value is
    refused and answered as a refusal, which the worker raises as `UnstorableMessage`.
    On PostgreSQL: SQLite, where the writer runs, holds every value a frame can carry."""
    store = open_store(pg_url)
    path = str(tmp_path / "commit.sock")
    writer = InboxWriter(store, path)
    writer.listen()
    stop = threading.Event()
    thread = threading.Thread(target=writer.serve, args=(stop,))
    thread.start()
    try:
        reader, stream = await asyncio.open_unix_connection(path)
        frames = b""
        for rid, messages in ((1, [_message(1)]), (2, [_bad(store)[-1]]), (3, [_message(3)])):
            payload = encode_messages(messages)
            frames += struct.pack("!QI", rid, len(payload)) + payload
        stream.write(frames)
        answers = {}
        for _ in range(3):
            rid, size = struct.unpack("!QI", await reader.readexactly(12))
            answers[rid] = decode_receipts(await reader.readexactly(size))
        stream.close()
        assert isinstance(answers[2], UnstorableMessage)
        assert isinstance(answers[1], list) and isinstance(answers[3], list)
        assert _rows(store) == {"m-1", "m-3"} and writer.rows == 2
    finally:
        stop.set()
        thread.join()
        store.dispose()


async def test_a_worker_refuses_what_no_relay_frame_can_carry(tmp_path: Path) -> None:
    sqlite = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    path = str(tmp_path / "commit.sock")
    writer = InboxWriter(sqlite, path)
    writer.listen()
    stop = threading.Event()
    thread = threading.Thread(target=writer.serve, args=(stop,))
    thread.start()
    worker = RelayCommitter(path, GroupCommitter(sqlite))
    worker.start()
    try:
        with pytest.raises(UnstorableMessage):
            await worker.submit([_message(1, message_id="lone \udc80 surrogate")])
        (receipt,) = await worker.submit([_message(2)])
        assert not receipt.duplicate and worker.relayed == 1
    finally:
        worker.stop()
        stop.set()
        thread.join()


def test_a_failure_at_apply_is_named_without_the_values_it_bound(pg_url: str) -> None:
    """The receipt of a message that fails alone says what failed, not the SQL statement
    SQLAlchemy prints with its parameters (a customer's name and street, here)."""
    store = open_store(pg_url)
    try:
        with store.write() as conn:
            conn.execute(inbox.insert().values(
                receipt_id="r-1", partner="acme", message_id=SECRET + "\x00", channel="webhook",
                content_type="application/json", body=b"{}", correlation_id="c",
                received_at="2026-11-23T10:00:00.000000Z",
            ))  # fmt: skip
    except Exception as exc:  # the real error the driver raises (statement and all; the
        # store's engines hide bound parameters from it as well)
        assert "INSERT INTO inbox" in str(exc)
        reason = unapplicable(exc)
    else:
        raise AssertionError("PostgreSQL stored a NUL")
    finally:
        store.dispose()
    assert reason.startswith("DataError (DataError):") and SECRET not in reason
    assert "INSERT" not in reason
