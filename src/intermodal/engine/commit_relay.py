"""One group commit for all the workers of a node on SQLite.

SQLite has one writer at a time and each commit costs an fsync. With `serve --workers N`
each worker's group committer took its turn on the writer lock, so a commit carried only
that worker's share of the requests in flight: the more workers, the smaller the groups
and the more fsyncs per webhook. On 16 cores 8 workers answered 3,219 webhooks/s against
7,047 with 4 (BENCHMARKS.md, "Scaling by workers").

So on SQLite the core worker's group committer commits for every worker. The others
(`RelayCommitter`) send their messages over a UNIX stream socket in the runtime folder
(`RelayServer`), and answer their requests when the receipts come back, after the commit,
exactly as with a committer of their own. Parsing, signature checks and HTTP stay spread
over the workers; only the write is gathered.

- **Frames**: a request id and a length, then the messages (or the receipts) in a plain
  length-prefixed layout (`encode_messages`, `encode_receipts`): nothing is executed or
  constructed from the bytes but strings, bytes and numbers, and a malformed frame fails
  to decode. The socket is 0600 in the supervisor's private runtime folder (0700).
- **Losing the core worker**: a worker that cannot reach it (starting, restarting, dead)
  commits itself, through its own group committer, until it can again. A message sent
  just before the core died may have been committed or not: the worker stores it again
  itself, and the inbox's (partner, message id) key answers it as the duplicate of the
  stored one if it was.
- PostgreSQL needs none of this: it takes commits side by side and gathers their WAL
  flushes itself, so there every worker commits on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import struct
import time
from typing import Protocol

from intermodal.engine.inbox import GroupCommitter, InboxMessage, Receipt

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!QI")  # request id, payload length
_RECONNECT_AFTER = 0.5


class Committer(Protocol):
    """What ingress hands messages to: a `GroupCommitter`, or a `RelayCommitter`."""

    @property
    def rows(self) -> int: ...

    async def submit(self, messages: list[InboxMessage]) -> list[Receipt]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def alive(self) -> bool: ...


_MESSAGE = struct.Struct("!iHHHHHI")  # partition, then the lengths of its six fields
_RECEIPT = struct.Struct("!HHBB")  # lengths of receipt id and time, duplicate, conflict
_NO_PARTITION = -(2**31)


def _frame(rid: int, payload: bytes) -> bytes:
    return _HEADER.pack(rid, len(payload)) + payload


def encode_messages(messages: list[InboxMessage]) -> bytes:
    parts = [struct.pack("!I", len(messages))]
    for m in messages:
        fields = [
            m.partner.encode(), m.message_id.encode(), m.channel.encode(),
            m.content_type.encode(), m.correlation_id.encode(),
        ]  # fmt: skip
        partition = _NO_PARTITION if m.partition is None else m.partition
        parts.append(_MESSAGE.pack(partition, *(len(f) for f in fields), len(m.body)))
        parts.extend(fields)
        parts.append(m.body)
    return b"".join(parts)


def decode_messages(data: bytes) -> list[InboxMessage]:
    (count,) = struct.unpack_from("!I", data)
    at, out = 4, []
    for _ in range(count):
        partition, *sizes = _MESSAGE.unpack_from(data, at)
        at += _MESSAGE.size
        fields = []
        for size in sizes[:5]:
            fields.append(data[at : at + size].decode())
            at += size
        body = data[at : at + sizes[5]]
        at += sizes[5]
        partner, message_id, channel, content_type, correlation_id = fields
        out.append(
            InboxMessage(
                partner, message_id, channel, content_type, body, correlation_id,
                None if partition == _NO_PARTITION else partition,
            )
        )  # fmt: skip
    if at != len(data):
        raise ValueError("trailing bytes in a relayed frame")
    return out


def encode_receipts(receipts: list[Receipt]) -> bytes:
    parts = [b"\x01", struct.pack("!I", len(receipts))]
    for r in receipts:
        rid, at = r.receipt_id.encode(), r.received_at.encode()
        parts.append(_RECEIPT.pack(len(rid), len(at), r.duplicate, r.conflict))
        parts.extend((rid, at))
    return b"".join(parts)


def decode_receipts(data: bytes) -> list[Receipt] | str:
    """The receipts, or the core worker's error message."""
    if data[:1] != b"\x01":
        return data[1:].decode(errors="replace")
    (count,) = struct.unpack_from("!I", data, 1)
    at, out = 5, []
    for _ in range(count):
        rid_size, at_size, duplicate, conflict = _RECEIPT.unpack_from(data, at)
        at += _RECEIPT.size
        receipt_id = data[at : at + rid_size].decode()
        at += rid_size
        received_at = data[at : at + at_size].decode()
        at += at_size
        out.append(Receipt(receipt_id, received_at, bool(duplicate), bool(conflict)))
    return out


class RelayServer:
    """The core worker's end: commits what other workers send with its own committer."""

    def __init__(self, committer: GroupCommitter, path: str) -> None:
        self.committer = committer
        self.path = path
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # an earlier core worker's
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        """Stop listening and hang up on the workers: they commit on their own until a
        core worker listens again."""
        for writer in list(self._clients):
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                rid, size = _HEADER.unpack(header)
                payload = await reader.readexactly(size)
                task = asyncio.create_task(self._one(rid, payload, writer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _one(self, rid: int, payload: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            receipts = await self.committer.submit(decode_messages(payload))
            reply = encode_receipts(receipts)
        except Exception as exc:  # the store failed: the worker answers 503, as its own would
            reply = b"\x00" + f"{type(exc).__name__}".encode()
        if not writer.is_closing():
            writer.write(_frame(rid, reply))


class RelayError(Exception):
    """The core worker could not store the messages (its store failed)."""


class RelayCommitter:
    """An ingest worker's committer: its messages are committed by the core worker's
    (`RelayServer`), or by `local` while the core worker cannot be reached."""

    def __init__(self, path: str, local: GroupCommitter) -> None:
        self.path = path
        self.local = local
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[list[Receipt]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self._retry_at = 0.0
        self.relayed = 0

    @property
    def rows(self) -> int:
        return self.local.rows + self.relayed

    @property
    def alive(self) -> bool:
        return self.local.alive

    def start(self) -> None:
        self.local.start()

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.local.stop()

    async def submit(self, messages: list[InboxMessage]) -> list[Receipt]:
        writer = await self._connection()
        if writer is None:
            return await self.local.submit(messages)
        rid = next(self._ids)
        future: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            writer.write(_frame(rid, encode_messages(messages)))
            receipts = await future
        except ConnectionError:  # lost before the answer: store it ourselves (module doc)
            self._waiting.pop(rid, None)
            return await self.local.submit(messages)
        self.relayed += len(messages)
        return receipts

    async def _connection(self) -> asyncio.StreamWriter | None:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        if time.monotonic() < self._retry_at:
            return None
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.open_unix_connection(self.path)
            except OSError:
                self._retry_at = time.monotonic() + _RECONNECT_AFTER
                return None
            self._writer = writer
            self._reader = asyncio.create_task(self._read(reader, writer))
            log.info("inbox commits go through the core worker again")
            return writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                rid, size = _HEADER.unpack(header)
                value = decode_receipts(await reader.readexactly(size))
                future = self._waiting.pop(rid, None)
                if future is None or future.done():
                    continue
                if isinstance(value, str):
                    future.set_exception(RelayError(value))
                else:
                    future.set_result(value)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
                self._retry_at = time.monotonic() + _RECONNECT_AFTER
                log.warning("lost the core worker's committer; committing here meanwhile")
            waiting, self._waiting = self._waiting, {}
            for future in waiting.values():
                if not future.done():
                    future.set_exception(ConnectionResetError("the core worker went away"))


__all__ = [
    "Committer",
    "RelayCommitter",
    "RelayError",
    "RelayServer",
    "decode_messages",
    "decode_receipts",
    "encode_messages",
    "encode_receipts",
]
