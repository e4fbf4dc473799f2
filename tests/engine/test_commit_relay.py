"""The commit relay (engine/commit_relay.py): ingest workers' messages committed by the core
worker's group committer on a real SQLite file, over a real UNIX socket."""

from __future__ import annotations

import asyncio
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from intermodal.engine.commit_relay import (
    InboxWriter,
    RelayCommitter,
    RelayError,
    decode_messages,
    decode_receipts,
    encode_messages,
    encode_receipts,
)
from intermodal.engine.inbox import GroupCommitter, InboxMessage, Receipt
from intermodal.store import Store, open_store
from intermodal.store.tables import inbox

text = st.text(max_size=40)
messages = st.lists(
    st.builds(
        InboxMessage,
        text,
        text,
        text,
        text,
        st.binary(max_size=200),
        text,
        st.one_of(st.none(), st.integers(-1, 4095)),
    ),
    max_size=20,
)


@given(messages)
def test_messages_cross_the_relay_unchanged(batch: list[InboxMessage]) -> None:
    assert decode_messages(encode_messages(batch)) == batch


@given(st.lists(st.builds(Receipt, text, text, st.booleans(), st.booleans()), max_size=20))
def test_receipts_cross_the_relay_unchanged(receipts: list[Receipt]) -> None:
    assert decode_receipts(encode_receipts(receipts)) == receipts


@given(st.binary(max_size=300))
def test_a_malformed_frame_fails_to_decode_and_builds_nothing(data: bytes) -> None:
    try:
        decoded = decode_messages(data)
    except (ValueError, struct.error, UnicodeDecodeError):
        return
    assert all(isinstance(m, InboxMessage) for m in decoded)  # a well-formed frame after all
    assert encode_messages(decoded) == data


def _message(n: int) -> InboxMessage:
    return InboxMessage("acme", f"m-{n}", "webhook", "application/json", b"{}", f"c-{n}", n % 8)


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'hub.db'}")


class Writer:
    """The inbox writer on a thread, as `serve` runs it in a process."""

    def __init__(self, store: Store, path: str) -> None:
        self.stop = threading.Event()
        self.commits = 0
        self.writer = InboxWriter(store, path, on_commit=self._count)
        self.writer.listen()
        self.thread = threading.Thread(target=self.writer.serve, args=(self.stop,))
        self.thread.start()

    def _count(self) -> None:
        self.commits += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


async def test_workers_commit_through_the_writer_and_on_their_own_without_it(
    tmp_path: Path, store: Store
) -> None:
    path = str(tmp_path / "commit.sock")
    writer = Writer(store, path)
    workers = [RelayCommitter(path, GroupCommitter(store)) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        receipts = await asyncio.gather(*(workers[n % 3].submit([_message(n)]) for n in range(60)))
        assert [r.duplicate for (r,) in receipts] == [False] * 60
        assert [w.relayed for w in workers] == [20, 20, 20]
        assert all(w.local.rows == 0 for w in workers)
        assert writer.writer.rows == 60 and writer.commits < 60  # gathered into groups
        (again,) = await workers[1].submit([_message(7)])  # a re-delivery: the original
        assert again.duplicate and again.receipt_id == receipts[7][0].receipt_id
        changed = _message(7)
        changed.body = b'{"other": 1}'
        (conflict,) = await workers[2].submit([changed])
        assert conflict.conflict

        writer.close()  # the writer goes away: each worker commits itself
        await asyncio.sleep(0.05)
        (alone,) = await workers[0].submit([_message(100)])
        assert not alone.duplicate and workers[0].local.rows == 1

        writer = Writer(store, path)  # a new writer listens
        await asyncio.sleep(0.6)  # past the reconnect pause
        await workers[0].submit([_message(101)])
        assert workers[0].relayed == 21 and writer.writer.rows == 1
        assert _count(store) == 62
    finally:
        writer.close()
        for worker in workers:
            worker.stop()


async def test_a_malformed_frame_is_answered_and_the_connection_kept(
    tmp_path: Path, store: Store
) -> None:
    path = str(tmp_path / "commit.sock")
    writer = Writer(store, path)
    try:
        reader, stream = await asyncio.open_unix_connection(path)
        stream.write(struct.pack("!QI", 9, 3) + b"bad")
        header = await reader.readexactly(12)
        rid, size = struct.unpack("!QI", header)
        assert rid == 9
        answer = decode_receipts(await reader.readexactly(size))
        assert isinstance(answer, RelayError) and str(answer) == "malformed frame"
        good = encode_messages([_message(1)])
        stream.write(struct.pack("!QI", 10, len(good)) + good)
        rid, size = struct.unpack("!QI", await reader.readexactly(12))
        (receipt,) = decode_receipts(await reader.readexactly(size))
        assert rid == 10 and not receipt.duplicate
        stream.close()
    finally:
        writer.close()
