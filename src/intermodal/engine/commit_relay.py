"""One group commit for all the workers of a node on SQLite.

SQLite has one writer at a time and each commit costs an fsync. With `serve --workers N`
each worker's group committer took its turn on the writer lock, so a commit carried only
that worker's share of the requests in flight: the more workers, the smaller the groups
and the more fsyncs per webhook. On 16 cores 8 workers answered 3,219 webhooks/s against
7,047 with 4 (BENCHMARKS.md, "Scaling by workers").

So on SQLite one process commits for every worker: the inbox writer (`InboxWriter`),
which `serve` starts beside the workers and does nothing else. The workers
(`RelayCommitter`) send their messages over a UNIX stream socket in the runtime folder and
answer their requests when the receipts come back, after the commit, exactly as with a
committer of their own. Parsing, signature checks and HTTP stay spread over the workers;
only the write is gathered. (Gathering it in the core worker instead, which also serves
HTTP and runs the dispatcher, made that one process the limit at 8 workers.)

- **Frames**: a request id and a length, then the messages (or the receipts) in a plain
  length-prefixed layout (`encode_messages`, `encode_receipts`): nothing is executed or
  constructed from the bytes but strings, bytes and numbers, and a malformed frame fails
  to decode. The socket is 0600 in the supervisor's private runtime folder (0700).
- **Losing the writer**: a worker that cannot reach it (starting, restarting, dead)
  commits itself, through its own group committer, until it can again. A message sent
  just before the writer died may have been committed or not: the worker stores it again
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
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

from intermodal.engine.inbox import (
    GroupCommitter,
    InboxMessage,
    Receipt,
    UnstorableMessage,
    store_groups,
)
from intermodal.errors import Unavailable
from intermodal.observe.metrics import Metrics
from intermodal.store import Store

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


def _frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The whole frames at the start of `buffer`, taken out of it; a partial one stays."""
    out, at = [], 0
    while len(buffer) - at >= _HEADER.size:
        rid, size = _HEADER.unpack_from(buffer, at)
        start = at + _HEADER.size
        if len(buffer) - start < size:
            break
        at = start + size
        out.append((rid, bytes(buffer[start:at])))
    del buffer[:at]
    return out


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
    parts = [_RECEIPTS, struct.pack("!I", len(receipts))]
    for r in receipts:
        rid, at = r.receipt_id.encode(), r.received_at.encode()
        parts.append(_RECEIPT.pack(len(rid), len(at), r.duplicate, r.conflict))
        parts.extend((rid, at))
    return b"".join(parts)


_RECEIPTS, _FAILED, _REFUSED = b"\x01", b"\x00", b"\x02"


def encode_failure(exc: Exception) -> bytes:
    """Why a worker's messages were not stored: a value the store refused (the worker
    answers 422, its refusal's kind travels) or a failed store (503, the class's name)."""
    if isinstance(exc, UnstorableMessage):
        return _REFUSED + exc.refusal.encode()
    return _FAILED + type(exc).__name__.encode()


def decode_receipts(data: bytes) -> list[Receipt] | Exception:
    """The receipts, or why the writer did not store the messages."""
    if data[:1] == _REFUSED:
        return UnstorableMessage(data[1:].decode(errors="replace"))
    if data[:1] != _RECEIPTS:
        return RelayError(data[1:].decode(errors="replace"))
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


class InboxWriter:
    """The node's one group commit on SQLite, in a process of its own (`serve` starts it
    beside the workers): reads every worker's frames, commits them in one transaction,
    then, with the writer lock released, answers each worker in one send and wakes the
    appliers.

    One thread and `select`, no event loop: after the first frame of a round it takes the
    writer lock (`Store.writer_turn`), then gathers every frame that arrived meanwhile, so
    a commit carries what all workers have in flight and waiting for an applier's write
    only makes the next group bigger (as `GroupCommitter` does in one process)."""

    def __init__(
        self,
        store: Store,
        path: str,
        on_commit: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        max_rows: int = 20_000,
    ) -> None:
        self.store = store
        self.path = path
        self.on_commit = on_commit
        self.metrics = metrics
        self.max_rows = max_rows
        self.batches = 0
        self.rows = 0
        self._selector = selectors.DefaultSelector()
        self._buffers: dict[socket.socket, bytearray] = {}
        self._listener: socket.socket | None = None

    def listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # an earlier writer's
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(256)
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        self._listener = listener

    def serve(self, stop: threading.Event) -> None:
        """Commit what the workers send until `stop` is set; then hang up on them (they
        commit on their own until a writer listens again)."""
        if self._listener is None:
            self.listen()
        try:
            while not stop.is_set():
                jobs = self._gather(0.5)
                if not jobs:
                    continue
                with self.store.writer_turn():
                    began = time.perf_counter()
                    rows = sum(len(messages) for _, _, messages in jobs)
                    while rows < self.max_rows:
                        more = self._gather(0)
                        if not more:
                            break
                        jobs += more
                        rows += sum(len(messages) for _, _, messages in more)
                    results = store_groups(self.store, [batch for _, _, batch in jobs])
                self._answer(jobs, results, time.perf_counter() - began)
        finally:
            self.close()

    def close(self) -> None:
        for client in list(self._buffers):
            self._drop(client)
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def _gather(self, timeout: float) -> list[tuple[socket.socket, int, list[InboxMessage]]]:
        jobs: list[tuple[socket.socket, int, list[InboxMessage]]] = []
        for key, _ in self._selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is self._listener:
                with contextlib.suppress(BlockingIOError):
                    client, _ = sock.accept()
                    client.settimeout(10)  # a worker that stops reading is dropped
                    self._buffers[client] = bytearray()
                    self._selector.register(client, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                self._drop(sock)
                continue
            buffer = self._buffers[sock]
            buffer += data
            for rid, payload in _frames(buffer):
                try:
                    jobs.append((sock, rid, decode_messages(payload)))
                except (ValueError, struct.error, UnicodeDecodeError):
                    self._send(sock, _frame(rid, _FAILED + b"malformed frame"))
        return jobs

    def _answer(
        self,
        jobs: list[tuple[socket.socket, int, list[InboxMessage]]],
        results: list[list[Receipt] | Exception],
        held: float,
    ) -> None:
        """Answer the workers and wake the appliers once the writer lock is released:
        sending wakes other processes, which on a busy machine could take the CPU from a
        writer still holding the lock that every commit and every apply waits for."""
        stored = [len(r) for r in results if not isinstance(r, Exception)]
        failed = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, UnstorableMessage)
        ]
        if failed:  # the store itself: each waiting worker answers 503
            log.error("inbox writer: the commit failed", exc_info=failed[0])
        if stored:  # counted before the answers go: a worker may read them at once
            self.batches += 1
            self.rows += sum(stored)
            if self.metrics is not None:
                self.metrics.group_commit_rows.observe(sum(stored))
                self.metrics.store_write_seconds.labels("ingest").observe(held)
        answers: dict[socket.socket, list[bytes]] = {}
        for (sock, rid, _), result in zip(jobs, results, strict=True):
            answer = (
                encode_failure(result) if isinstance(result, Exception) else encode_receipts(result)
            )
            answers.setdefault(sock, []).append(_frame(rid, answer))
        for sock, frames in answers.items():  # one send a worker: its jobs' answers together
            self._send(sock, b"".join(frames))
        if stored and self.on_commit is not None:
            self.on_commit()

    def _send(self, sock: socket.socket, frame: bytes) -> None:
        if sock not in self._buffers:
            return
        try:
            sock.sendall(frame)
        except OSError:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        if self._buffers.pop(sock, None) is not None:
            self._selector.unregister(sock)
        sock.close()


class RelayError(Unavailable):
    """The inbox writer could not store the messages (its store failed)."""


class RelayCommitter:
    """A worker's committer: its messages are committed by the inbox writer, or by
    `local` while the writer cannot be reached.

    The frames of every request that submits during one turn of the event loop leave in
    one write, and every answer that arrives in one read is parsed there, in
    `_Relay.data_received`: with keep-alive clients the requests of a commit round come
    in together, so a write and a wake-up a request became one of each a round."""

    def __init__(self, path: str, local: GroupCommitter) -> None:
        self.path = path
        self.local = local
        self._ids = itertools.count(1)
        self._relay: _Relay | None = None
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
        if self._relay is not None:
            self._relay.transport.close()
        self.local.stop()

    async def submit(self, messages: list[InboxMessage]) -> list[Receipt]:
        relay = await self._connection()
        if relay is None:
            return await self.local.submit(messages)
        try:
            frame = encode_messages(messages)
        except (UnicodeError, struct.error) as exc:  # text or a number no frame can carry
            raise UnstorableMessage(type(exc).__name__) from None
        try:
            receipts = await relay.send(next(self._ids), frame)
        except ConnectionError:  # lost before the answer: store it ourselves (module doc)
            return await self.local.submit(messages)
        self.relayed += len(messages)
        return receipts

    async def _connection(self) -> _Relay | None:
        if self._relay is not None and not self._relay.lost:
            return self._relay
        if time.monotonic() < self._retry_at:
            return None
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._relay is not None and not self._relay.lost:
                return self._relay
            loop = asyncio.get_running_loop()
            try:
                _, relay = await loop.create_unix_connection(lambda: _Relay(self), self.path)
            except OSError:
                self._retry_at = time.monotonic() + _RECONNECT_AFTER
                return None
            self._relay = relay
            log.info("inbox commits go through the inbox writer again")
            return relay

    def _lost(self, relay: _Relay) -> None:
        if self._relay is relay:
            self._relay = None
            self._retry_at = time.monotonic() + _RECONNECT_AFTER
            log.warning("lost the inbox writer; committing here meanwhile")


class _Relay(asyncio.Protocol):
    """One connection to the inbox writer: frames out, a turn's worth at a time;
    receipts in, to the futures waiting on them."""

    def __init__(self, owner: RelayCommitter) -> None:
        self.owner = owner
        self.transport: asyncio.Transport
        self.lost = False
        self._waiting: dict[int, asyncio.Future[list[Receipt]]] = {}
        self._out: list[bytes] = []
        self._in = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, rid: int, payload: bytes) -> asyncio.Future[list[Receipt]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Receipt]] = loop.create_future()
        self._waiting[rid] = future
        if not self._out:
            loop.call_soon(self._flush)
        self._out.append(_frame(rid, payload))
        return future

    def _flush(self) -> None:
        frames, self._out = self._out, []
        if frames and not self.lost:
            self.transport.write(b"".join(frames))

    def data_received(self, data: bytes) -> None:
        self._in += data
        for rid, payload in _frames(self._in):
            future = self._waiting.pop(rid, None)
            if future is None or future.done():
                continue
            try:
                value = decode_receipts(payload)
            except (ValueError, struct.error, UnicodeDecodeError):
                value = RelayError("a malformed answer from the inbox writer")
            if isinstance(value, Exception):
                future.set_exception(value)
            else:
                future.set_result(value)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.owner._lost(self)
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionResetError("the inbox writer went away"))


__all__ = [
    "Committer",
    "InboxWriter",
    "RelayCommitter",
    "RelayError",
    "decode_messages",
    "decode_receipts",
    "encode_failure",
    "encode_messages",
    "encode_receipts",
]
