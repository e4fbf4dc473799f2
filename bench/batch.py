"""W6: one 10,000-event batch to `POST /v1/events`, time until the durable 202.

The hub (`intermodal serve`, SQLite file, WAL, synchronous=FULL) receives a batch of
10,000 fresh canonical milestone events with a partner's bearer token; the clock runs
from the first byte sent to the last byte of the answer, which comes only once every
event is committed. Several batches are sent one after another (each with new event
ids); the median is reported.

Peer (same run, same batch, same HTTP client): the naive batch endpoint of
_common.naive_app, a plain Starlette handler that validates each event with the hub's own
parser and stores it with one SQLite transaction per event (WAL, synchronous=FULL,
INSERT OR IGNORE): what a batch endpoint looks like when it loops over single inserts.

Afterwards both stores are counted, so a fast answer that stored nothing cannot pass.

The floor (same run, in this process, no HTTP): the least any design that validates each
event and stores it durably must spend on this machine. Best of three, on the same
batch: orjson decoding the body, the canonical model validating the events in one
pydantic call, and bare SQLite (WAL, synchronous=FULL, a table with no index but its
rowid) inserting one row per event and committing. The hub cannot beat it; the ratio
says how close it comes, and whether the target is reachable here at all.

    python bench/batch.py [--quick] [--events N] [--batches N]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from _common import (
    PARTNER,
    Server,
    free_port,
    http_request,
    hub_server,
    milestone_event,
    naive_server,
    new_webhook_secret,
    print_header,
    result_line,
    workdir,
)


def hub_config(work: Path) -> Path:
    path = work / "intermodal.yaml"
    path.write_text(
        "hub:\n"
        "  log_level: warning\n"
        "partners:\n"
        f"  {PARTNER}:\n"
        "    kind: carrier\n"
        "    webhook_secrets: [env:ACME_WEBHOOK_SECRET]\n"
        "    tokens:\n"
        "      - token: env:ACME_API_TOKEN\n"
        "        scopes: [events:write]\n"
        "    owns: [picked_up, in_transit, out_for_delivery, delivered, delivery_failed]\n",
        encoding="utf-8",
    )
    return path


def make_batch(run: str, events: int) -> bytes:
    base = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    shipments = max(1, events // 4)
    return orjson.dumps([milestone_event(i, shipments, run, base) for i in range(events)])


def send_batches(
    server: Server, token: str, events: int, batches: int, tag: str, idle: Any
) -> tuple[list[float], int]:
    """Send a warm-up batch, then `batches` measured ones; return their times (s).

    Before each batch, `idle()` waits until the server has finished the previous one's
    background work (the hub's applier), so each batch meets an idle server."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    times: list[float] = []
    accepted = 0
    bodies = [make_batch(f"{tag}{b}", events) for b in range(batches + 1)]
    for b, body in enumerate(bodies):
        idle()
        start = time.perf_counter()
        status, answer = http_request("127.0.0.1", server.port, "POST", "/v1/events", body, headers)
        elapsed = time.perf_counter() - start
        if status != 202:
            raise RuntimeError(f"{server.name}: batch answered {status}: {answer[:300]!r}")
        value = orjson.loads(answer)
        if "accepted" in value:
            ok = value["accepted"]
        else:
            ok = sum(1 for r in value["results"] if r["status"] == "accepted")
        if ok != events:
            raise RuntimeError(f"{server.name}: only {ok} of {events} events accepted")
        if b == 0:
            continue  # warm-up
        times.append(elapsed)
        accepted += ok
    return times, accepted


def wait_applied(db: Path, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            pending = conn.execute("SELECT count(*) FROM inbox WHERE status = 'pending'")
            if not pending.fetchone()[0]:
                return
        time.sleep(0.05)
    raise RuntimeError("the hub did not apply the previous batch in time")


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def floor(events: int) -> tuple[float, dict[str, float]]:
    """The batch floor described in the module docstring: seconds per stage, best of 3."""
    import gc

    from intermodal.canonical.events import parse_all_or_none

    body = make_batch("floor", events)
    stages: dict[str, float] = {"decode": 1e9, "validate": 1e9, "insert+commit": 1e9}
    with workdir("batch-floor") as work:
        conn = sqlite3.connect(work / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE inbox (message_id TEXT NOT NULL, body BLOB NOT NULL)")
        for attempt in range(3):
            gc.disable()  # as the hub does around a batch (observe.memory.gc_paused)
            try:
                start = time.perf_counter()
                value = orjson.loads(body)
                decoded = time.perf_counter()
                if parse_all_or_none(value) is None:
                    raise RuntimeError("the floor's batch does not validate")
                validated = time.perf_counter()
                rows = [(f"{attempt}-{item['id']}", orjson.dumps(item)) for item in value]
                built = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO inbox (message_id, body) VALUES (?, ?)", rows)
                conn.execute("COMMIT")
                stored = time.perf_counter()
            finally:
                gc.enable()
            stages["decode"] = min(stages["decode"], decoded - start)
            stages["validate"] = min(stages["validate"], validated - decoded)
            stages["insert+commit"] = min(stages["insert+commit"], stored - built)
        conn.close()
    return sum(stages.values()), stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batches", type=int, help="measured batches (default 3 quick, 10)")
    args = parser.parse_args()
    batches = args.batches or (3 if args.quick else 10)
    events = args.events
    print_header(f"W6 batch: {events:,}-event batch to POST /v1/events, durable 202", args.quick)
    print(
        f"{batches} measured batches (+1 warm-up) per system, each sent to an idle server "
        "(the hub's applier has finished the previous one); median reported",
        flush=True,
    )

    figures: dict[str, float] = {}
    secret, token = new_webhook_secret(), "bench-" + new_webhook_secret()[6:38]
    for name in ("hub", "naive"):
        with workdir(f"batch-{name}") as work:
            port = free_port()
            if name == "hub":
                db, table = work / "hub.db", "inbox"
                server = hub_server(
                    work,
                    hub_config(work),
                    port,
                    {"ACME_WEBHOOK_SECRET": secret, "ACME_API_TOKEN": token},
                    db,
                )
            else:
                db, table = work / "naive.db", "inbox"
                server = naive_server(work, port, secret, token)
            server.start()
            try:
                idle = (lambda db=db: wait_applied(db)) if name == "hub" else (lambda: None)
                times, _accepted = send_batches(server, token, events, batches, name[0], idle)
                stored = count_rows(db, table)
            finally:
                server.stop()
            expected = events * (batches + 1)
            if stored != expected:
                raise RuntimeError(f"{name}: {stored} rows stored, expected {expected}")
            median = statistics.median(times)
            figures[name] = events / median
            print(
                f"  {name:<6} time to 202: median {median * 1000:,.0f} ms "
                f"(min {min(times) * 1000:,.0f}, max {max(times) * 1000:,.0f}) "
                f"-> {events / median:,.0f} events/s; {stored:,} rows durable",
                flush=True,
            )
    least, stages = floor(events)
    parts = " + ".join(f"{name} {seconds * 1000:,.0f}" for name, seconds in stages.items())
    print(
        f"  floor  {parts} = {least * 1000:,.0f} ms -> at most {events / least:,.0f} events/s "
        "for any design that validates each event and stores it durably on this machine",
        flush=True,
    )
    print()
    print(result_line("batch", "throughput", figures["hub"], "events/s", figures["naive"]))
    print(result_line("batch", "throughput_vs_floor", figures["hub"], "events/s", events / least))


if __name__ == "__main__":
    main()
