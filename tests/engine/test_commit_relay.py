"""The commit relay (engine/commit_relay.py): ingest workers' messages committed by the inbox
writer on a real SQLite file, over a real UNIX socket."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
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


class CountingWriter(InboxWriter):
    """The inbox writer, counting the sends it makes to the workers."""

    sends = 0

    def _send(self, sock: socket.socket, frame: bytes) -> None:
        self.sends += 1
        super()._send(sock, frame)


class Writer:
    """The inbox writer on a thread, as `serve` runs it in a process."""

    def __init__(
        self, store: Store, path: str, on_commit: Callable[[], None] | None = None
    ) -> None:
        self.stop = threading.Event()
        self.commits = 0
        self.on_commit = on_commit
        self.writer = CountingWriter(store, path, on_commit=self._count)
        self.writer.listen()
        self.thread = threading.Thread(target=self.writer.serve, args=(self.stop,))
        self.thread.start()

    def _count(self) -> None:
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit()

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


async def test_a_turns_requests_leave_in_one_write_and_their_answers_come_back_in_one_send(
    tmp_path: Path, store: Store
) -> None:
    path = str(tmp_path / "commit.sock")
    writer = Writer(store, path)
    worker = RelayCommitter(path, GroupCommitter(store))
    worker.start()
    try:
        await worker.submit([_message(0)])  # connected
        relay = worker._relay
        assert relay is not None
        writes: list[bytes] = []
        write = relay.transport.write

        def counted(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))
            write(data)

        relay.transport.write = counted  # type: ignore[method-assign]
        sends = writer.writer.sends
        receipts = await asyncio.gather(*(worker.submit([_message(n)]) for n in range(1, 11)))
        assert len(writes) == 1  # ten frames, one write
        assert writer.writer.sends - sends <= 2  # and back: one send a commit (one or two)
        assert writer.writer.rows == 11 and worker.relayed == 11
        with store.read() as conn:
            ids = dict(conn.execute(select(inbox.c.message_id, inbox.c.receipt_id)).all())
        assert [r.receipt_id for (r,) in receipts] == [ids[f"m-{n}"] for n in range(1, 11)]
    finally:
        writer.close()
        worker.stop()


async def test_the_writer_answers_and_wakes_the_appliers_with_the_writer_lock_released(
    tmp_path: Path, store: Store
) -> None:
    path = str(tmp_path / "commit.sock")
    lock_path = store.lock_file("writer")
    assert lock_path is not None
    held: list[bool] = []

    def try_the_lock() -> None:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)

    writer = Writer(store, path, on_commit=try_the_lock)
    worker = RelayCommitter(path, GroupCommitter(store))
    worker.start()
    try:
        for n in range(3):
            await worker.submit([_message(n)])
    finally:
        writer.close()  # joined: every wake-up has run
        worker.stop()
    assert held == [False, False, False]


async def _one_connection(path: str, handle: Callable[..., object]) -> asyncio.AbstractServer:
    return await asyncio.start_unix_server(handle, path)  # type: ignore[arg-type]


async def test_a_writer_lost_before_it_answers_leaves_the_request_to_the_worker(
    tmp_path: Path, store: Store
) -> None:
    path = str(tmp_path / "commit.sock")

    async def read_then_hang_up(reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        _, size = struct.unpack("!QI", await reader.readexactly(12))
        await reader.readexactly(size)
        stream.close()  # the writer dies with the frame read and nothing answered

    server = await _one_connection(path, read_then_hang_up)
    worker = RelayCommitter(path, GroupCommitter(store))
    worker.start()
    try:
        (receipt,) = await worker.submit([_message(1)])
        assert not receipt.duplicate and worker.local.rows == 1 and worker.relayed == 0
        assert _count(store) == 1
    finally:
        server.close()
        worker.stop()


async def test_a_malformed_answer_fails_that_request_only(tmp_path: Path, store: Store) -> None:
    path = str(tmp_path / "commit.sock")
    good = encode_receipts([Receipt("rcpt-1", "2026-12-05T00:00:00Z", False)])

    async def answer(reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        for payload in (b"\x01\x00", good):  # receipts cut short, then a good answer
            rid, size = struct.unpack("!QI", await reader.readexactly(12))
            await reader.readexactly(size)
            stream.write(struct.pack("!QI", rid, len(payload)) + payload)
        await reader.read()

    server = await _one_connection(path, answer)
    worker = RelayCommitter(path, GroupCommitter(store))
    worker.start()
    try:
        with pytest.raises(RelayError, match="malformed answer"):
            await worker.submit([_message(1)])
        (receipt,) = await worker.submit([_message(2)])  # the connection is kept
        assert receipt.receipt_id == "rcpt-1" and worker.relayed == 1
    finally:
        server.close()
        worker.stop()
