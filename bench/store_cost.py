"""The hub's CPU per message for storing (the group commit) and applying, on SQLite and
PostgreSQL, against SQLAlchemy's executemany of the same statements, in one run.

Where a hub node's CPU goes once HTTP is done: `store_messages` (the inbox insert and the
dedup answer of a group commit) and `Applier.run_once` (reading, deciding and writing a
batch). Both run in this process, in groups of 100 and batches of the applier's size, on
a fresh database, the applier holding every partition's lease as the hub's one applier
does (each batch is checked against them in its write transaction); CPU is this
process's (user + system), so the database server's own work is not counted and a busy
machine disturbs the figures less than wall time.

A third figure is the wall time per message spent inside apply's write transactions. On
SQLite that is how long the applier holds the database's one writer lock, which every
ingest commit waits for: the serial part of a node with many workers (it reads and decides
before it takes the lock). On PostgreSQL the whole batch is one transaction, so it is
nearly all of apply there, and holds no lock that ingest waits for.

On PostgreSQL the server's own CPU per message is printed too (`store_server_cpu`,
`apply_server_cpu`: every `postgres` process of this machine, read from /proc, so only
for a server on this machine): what a PostgreSQL machine must be sized for, beside the
hub's.

The peer is the same hub with every batch write made the ordinary SQLAlchemy way,
`conn.execute(statement, rows)` (on PostgreSQL psycopg's executemany: a statement per
row), and the inbox insert as `INSERT ... ON CONFLICT DO NOTHING` per row followed by
reading every key back: what store/store.py and engine/inbox.py did before they wrote
each batch as one statement.

    python bench/store_cost.py [--quick] [--postgres ADMIN_URL] [--messages N] [--batch N]
                               [--preload N]

`--batch` is the applier's batch (default 1000, its own default): a hub under steady load
applies what each group commit brought, batches of about a hundred, so `--batch 100`
shows what a batch's fixed costs (its reads, its commit) add to each message there.
`--preload N` first stores and applies N messages (untimed), so the indexes are those of
a database in use: a key that lands on a random page then costs that page in every commit.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import select

from _common import (
    PARTNER,
    milestone_event,
    postgres_cpu,
    postgres_cpu_since,
    print_header,
    result_line,
    workdir,
)
from intermodal.config import load_config
from intermodal.engine.applier import Applier
from intermodal.engine.ids import iso, sortable_ids, utcnow
from intermodal.engine.inbox import InboxMessage, Receipt, store_messages
from intermodal.engine.partitions import PartitionOwner, route
from intermodal.store import Store, open_store
from intermodal.store import store as store_module
from intermodal.store.store import rows_for_pairs
from intermodal.store.tables import inbox


def _config(work: Path, url: str) -> Any:
    path = work / "intermodal.yaml"
    path.write_text(
        "hub:\n  log_level: warning\npartners:\n"
        f"  {PARTNER}:\n    kind: carrier\n    webhook_secrets: [env:BENCH_STORE_SECRET]\n"
        "    owns: [picked_up, in_transit, out_for_delivery, delivered, delivery_failed]\n",
        encoding="utf-8",
    )
    os.environ["BENCH_STORE_SECRET"] = "whsec_" + "A" * 43 + "="
    return load_config(path, {"database": url})


def _messages(count: int, partitions: int) -> list[InboxMessage]:
    base = datetime(2026, 12, 1, tzinfo=UTC)
    run = secrets.token_hex(3)
    out = []
    for i in range(count):
        event = milestone_event(i, max(1, count // 5), run, base)
        body = orjson.dumps(event)
        out.append(
            InboxMessage(
                PARTNER, f"m-{run}-{i}", "webhook", "application/json", body, f"c-{i}",
                route([event["subject"]], partitions),
            )
        )  # fmt: skip
    dups = [out[i] for i in range(0, count, 10)]  # 10% re-deliveries, as bench/ingest.py
    mixed = []
    for i, message in enumerate(out):
        mixed.append(message)
        if i % 9 == 8 and dups:
            mixed.append(dups.pop(0))
    return mixed


def _per_row_store(store: Store, messages: list[InboxMessage]) -> list[Receipt]:
    """The peer's group commit: SQLAlchemy's insert-or-skip per row, then every key read
    back for its receipt."""
    now = iso(utcnow())
    ids = iter(sortable_ids("rcpt", len(messages)))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for m in messages:
        rows.setdefault(
            (m.partner, m.message_id),
            {
                "receipt_id": next(ids),
                "partner": m.partner,
                "message_id": m.message_id,
                "channel": m.channel,
                "content_type": m.content_type,
                "body": m.body,
                "correlation_id": m.correlation_id,
                "received_at": now,
                "status": "pending",
                "partition": m.partition,
            },
        )
    with store.write() as conn:
        conn.execute(store.insert_ignoring(inbox, ["partner", "message_id"]), list(rows.values()))
        query = select(inbox.c.partner, inbox.c.message_id, inbox.c.receipt_id)
        stored = {
            (r.partner, r.message_id): r.receipt_id
            for r in rows_for_pairs(conn, query, inbox.c.partner, inbox.c.message_id, rows)
        }
    return [Receipt(stored[(m.partner, m.message_id)], now, False) for m in messages]


@contextlib.contextmanager
def _per_row_writes() -> Iterator[None]:
    """Every `Store.execute_many` as SQLAlchemy's executemany, for the peer's run."""
    fast = store_module.Store.execute_many

    def per_row(self: Store, conn: Any, statement: Any, rows: Any) -> None:
        if rows:
            conn.execute(statement, list(rows))

    store_module.Store.execute_many = per_row
    try:
        yield
    finally:
        store_module.Store.execute_many = fast


@contextlib.contextmanager
def _timed_writes(store: Store, spent: list[float]) -> Iterator[None]:
    """Add the wall time of every `store.write()` transaction to `spent[0]`."""
    plain = store.write

    @contextlib.contextmanager
    def write() -> Iterator[Any]:
        began = time.perf_counter()
        try:
            with plain() as conn:
                yield conn
        finally:
            spent[0] += time.perf_counter() - began

    store.write = write  # type: ignore[method-assign]
    try:
        yield
    finally:
        store.write = plain  # type: ignore[method-assign]


def measure(
    url: str, count: int, peer: bool, batch: int = 1000, preload: int = 0
) -> tuple[float, ...]:
    """(store, apply) CPU microseconds per message on a database at `url` holding
    `preload` applied messages; the wall time per message of apply's write transactions
    (on SQLite they hold the writer lock, which every ingest commit waits for); and on a
    PostgreSQL server of this machine, its own CPU per message (store, apply), NaN
    where it cannot be seen."""
    with workdir("store-cost") as work:
        settings = _config(work, url)
        store = open_store(url)
        try:
            if preload:
                _preload(store, settings, preload)
            messages = _messages(count, settings.hub.partitions)
            save = _per_row_store if peer else store_messages
            server = postgres_cpu() if store.dialect == "postgresql" else None
            began = time.process_time()
            for start in range(0, len(messages), 100):
                save(store, messages[start : start + 100])
            stored = (time.process_time() - began) / len(messages) * 1e6
            server_stored = _since(server, len(messages))
            owner = _all_partitions(store, settings)
            applier = Applier(store, settings, batch=batch, owner=owner)
            applied, writing = 0, [0.0]
            per_row = _per_row_writes() if peer else contextlib.nullcontext()
            try:
                with per_row, _timed_writes(store, writing):
                    server = postgres_cpu() if store.dialect == "postgresql" else None
                    began = time.process_time()
                    while (result := applier.run_once()).messages:
                        applied += result.messages
                    spent = time.process_time() - began
                    server_applied = _since(server, max(applied, 1))
            finally:
                owner.stop()
            per = 1e6 / max(applied, 1)
            return stored, spent * per, writing[0] * per, server_stored, server_applied
        finally:
            store.dispose()


def _since(began: float | None, messages: int) -> float:
    """The PostgreSQL server's CPU microseconds per message since `began` (NaN: unseen)."""
    spent = postgres_cpu_since(began)
    return float("nan") if spent is None else spent / messages * 1e6


def _preload(store: Store, settings: Any, count: int) -> None:
    """`count` messages stored and applied in thousands, untimed: the indexes of a
    database in use, where a key that lands on a random page costs that page."""
    owner = _all_partitions(store, settings)
    try:
        applier = Applier(store, settings, batch=1000, owner=owner)
        messages = _messages(count, settings.hub.partitions)
        for start in range(0, len(messages), 1000):
            store_messages(store, messages[start : start + 1000])
            while applier.run_once().messages:
                pass
    finally:
        owner.stop()


def _all_partitions(store: Store, settings: Any) -> PartitionOwner:
    """The leases of every partition, as the hub's one applier holds them: each batch is
    fenced against them in its write transaction (engine/applier.py, `_fence`)."""
    owner = PartitionOwner(store, settings.hub.partitions, settings.hub.lease_seconds)
    owner.start()
    deadline = time.monotonic() + 30
    while len(owner.held) < settings.hub.partitions:
        if time.monotonic() > deadline:
            owner.stop()
            raise RuntimeError("the partitions' leases were not all taken in 30 s")
        time.sleep(0.02)
    return owner


@contextlib.contextmanager
def _database(admin: str | None, work: Path) -> Iterator[str]:
    if admin is None:
        yield f"sqlite:///{work / f'{secrets.token_hex(4)}.db'}"
        return
    name = f"bench_store_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "INTERMODAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL admin URL (a database is made and dropped); 'none' for SQLite only",
    )
    parser.add_argument(
        "--messages", type=int, help="messages per run (default 20,000; quick 5,000)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each side")
    parser.add_argument("--batch", type=int, default=1000, help="the applier's batch size")
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        help="messages stored and applied (untimed) before each run: a database in use",
    )
    args = parser.parse_args()
    count = args.messages or (5_000 if args.quick else 20_000)
    print_header("store and apply: the hub's CPU per message, by store", args.quick)
    print(
        f"{count:,} webhook messages (10% re-deliveries), groups of 100, applied in batches"
        f" of {args.batch}; best of {args.rounds}"
        + (f"; on a database of {args.preload:,} applied messages" if args.preload else "")
    )
    stores = [("sqlite", None)]
    if args.postgres != "none":
        stores.append(("postgresql", args.postgres))
    lines = []
    for name, admin in stores:
        best: dict[bool, list[float]] = {}
        for _ in range(args.rounds):
            for peer in (False, True):
                with workdir("store-cost-db") as work, _database(admin, work) as url:
                    got = measure(url, count, peer, args.batch, args.preload)
                side = "peer" if peer else "hub "
                print(
                    f"  {name:<10} {side} store {got[0]:6.0f} us  apply {got[1]:6.0f} us"
                    f"  (in write transactions {got[2]:5.1f} us)"
                    + (
                        f"; the server's CPU: store {got[3]:4.0f} us, apply {got[4]:4.0f} us"
                        if not math.isnan(got[3])
                        else ""
                    ),
                    flush=True,
                )
                old = best.get(peer)
                best[peer] = (
                    [min(a, b) for a, b in zip(old, got, strict=True)] if old else list(got)
                )
        suffix = "" if args.batch == 1000 else f"_batch{args.batch}"
        suffix += f"_preload{args.preload}" if args.preload else ""
        figures = ["store_cpu", "apply_cpu", "apply_write_wall"]
        if not math.isnan(best[False][3]):
            figures += ["store_server_cpu", "apply_server_cpu"]
        for index, what in enumerate(figures):
            lines.append(
                result_line(
                    "store_cost", f"{what}_per_message_{name}{suffix}",
                    best[False][index], "us", best[True][index],
                )
            )  # fmt: skip
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
