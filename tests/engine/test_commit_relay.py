"""The commit relay (engine/commit_relay.py): ingest workers' messages committed by the core
worker's group committer on a real SQLite file, over a real UNIX socket."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from intermodal.engine.commit_relay import (
    RelayCommitter,
    RelayServer,
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


async def test_workers_commit_through_the_core_and_on_their_own_without_it(
    tmp_path: Path, store: Store
) -> None:
    path = str(tmp_path / "commit.sock")
    core = GroupCommitter(store)
    core.start()
    server = RelayServer(core, path)
    await server.start()
    worker = RelayCommitter(path, GroupCommitter(store))
    worker.start()
    try:
        receipts = await asyncio.gather(*(worker.submit([_message(n)]) for n in range(50)))
        assert [r.duplicate for (r,) in receipts] == [False] * 50
        assert worker.relayed == 50 and worker.local.rows == 0 and core.rows == 50
        (again,) = await worker.submit([_message(7)])  # a re-delivery: the original receipt
        assert again.duplicate and again.receipt_id == receipts[7][0].receipt_id
        changed = _message(7)
        changed.body = b'{"other": 1}'
        (conflict,) = await worker.submit([changed])
        assert conflict.conflict

        await server.stop()  # the core worker goes away: the worker commits itself
        await asyncio.sleep(0.05)
        (alone,) = await worker.submit([_message(100)])
        assert not alone.duplicate and worker.local.rows == 1

        server = RelayServer(core, path)  # the core worker is back
        await server.start()
        await asyncio.sleep(0.6)  # past the reconnect pause
        await worker.submit([_message(101)])
        assert worker.relayed == 53 and core.rows == 53
        assert _count(store) == 52
    finally:
        await server.stop()
        worker.stop()
        core.stop()
