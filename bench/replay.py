"""W4: replay 100,000 dead letters to a loopback receiver.

Setup (not timed): a fresh SQLite store (WAL, synchronous=FULL) gets N dead letters,
written with SQLAlchemy through `intermodal.store.open_store`: outbound CloudEvents for
N/4 shipments (four milestones each), as the applier emits them, marked dead after ten
failed attempts. A receiver (`python -m intermodal_sim.testing receiver PORT`, its own
process) deduplicates by command id and counts at `/stats`.

Timed: from the admin call `POST /v1/admin/dead-letters/replay {"all": true}` on a
running hub (`intermodal serve`) until the receiver has applied all N commands. The hub
moves the dead letters back to the outbox and its dispatcher delivers them, signed, with
their original ids, `batch_size` commands per request (1, then a batched setting).

Peer (same run, same data, same receiver): a naive replay loop, one dead letter at a
time: read it, POST it with httpx (keep-alive, the same Standard Webhooks headers), delete
it in its own transaction.

    python bench/replay.py [--quick] [--count N] [--batch-sizes 1,100]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from _common import (
    PYTHON,
    Server,
    free_port,
    http_request,
    hub_server,
    new_webhook_secret,
    print_header,
    result_line,
    webhook_key,
    workdir,
)

ENDPOINT = "portal"


def hub_config(work: Path, receiver_port: int, batch_size: int, concurrency: int) -> Path:
    path = work / "intermodal.yaml"
    path.write_text(
        "hub:\n"
        "  log_level: warning\n"
        "  admin_token: env:BENCH_ADMIN_TOKEN\n"
        "endpoints:\n"
        f"  {ENDPOINT}:\n"
        f"    url: http://127.0.0.1:{receiver_port}/hooks\n"
        "    secret: env:PORTAL_WEBHOOK_SECRET\n"
        "    rate_per_second: 100000\n"
        f"    batch_size: {batch_size}\n"
        "delivery:\n"
        f"  concurrency: {concurrency}\n",
        encoding="utf-8",
    )
    return path


def seed_dead_letters(db: Path, count: int) -> None:
    """`count` dead letters, as the dispatcher leaves them after ten failed attempts."""
    from intermodal.store import open_store
    from intermodal.store.tables import dead_letters

    store = open_store(f"sqlite:///{db}")
    milestones = ("picked_up", "in_transit", "out_for_delivery", "delivered")
    previous = ("none", *milestones[:-1])
    shipments = max(1, count // len(milestones))
    base = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    try:
        rows: list[dict[str, Any]] = []
        for i in range(count):
            ship, step = i % shipments, (i // shipments) % len(milestones)
            at = base + timedelta(hours=step, seconds=ship % 3600)
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            command_id = "cmd_" + hashlib.sha256(f"{ENDPOINT}/{i}".encode()).hexdigest()[:32]
            subject = f"SHP-{ship:06d}"
            payload = {
                "specversion": "1.0",
                "id": command_id,
                "source": "intermodal",
                "type": "intermodal.shipment.milestone",
                "subject": subject,
                "time": stamp,
                "datacontenttype": "application/json",
                "data": {"milestone": milestones[step], "occurred_at": stamp},
                "previousstate": previous[step],
                "assertedby": "acme-carrier",
                "causationid": f"evt-{i}",
            }
            dead_at = (at + timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            rows.append(
                {
                    "command_id": command_id,
                    "endpoint": ENDPOINT,
                    "kind": "webhook",
                    "subject": subject,
                    "payload": orjson.dumps(payload),
                    "correlation_id": f"corr_{i:026d}",
                    "attempts": 10,
                    "last_error": "HTTP 503: upstream unavailable (after 10 attempts)",
                    "created_at": stamp,
                    "dead_at": dead_at,
                }
            )
            if len(rows) == 5000 or i == count - 1:
                with store.write() as conn:
                    conn.execute(dead_letters.insert(), rows)
                rows = []
    finally:
        store.dispose()


def receiver(work: Path, tag: str) -> Server:
    port = free_port()
    return Server(
        f"receiver-{tag}",
        [PYTHON, "-m", "intermodal_sim.testing", "receiver", str(port)],
        port,
        {},
        work / f"receiver-{tag}.log",
        ready_path="/stats",
    )


def stats(server: Server) -> dict[str, int]:
    status, body = http_request("127.0.0.1", server.port, "GET", "/stats")
    if status != 200:
        raise RuntimeError(f"receiver /stats answered {status}")
    value: dict[str, int] = orjson.loads(body)
    return value


def wait_for(server: Server, count: int, limit: float) -> tuple[float, int]:
    """Poll the receiver until it has applied `count` or `limit` seconds passed; return
    the moment (perf_counter) and how many it had then."""
    deadline = time.perf_counter() + limit
    while True:
        now = time.perf_counter()
        applied = stats(server)["applied"]
        if applied >= count or now > deadline:
            return now, applied
        time.sleep(0.02)


# -- the hub ------------------------------------------------------------------------------
def run_hub(count: int, batch_size: int, concurrency: int, limit: float) -> dict[str, Any]:
    with workdir(f"replay-b{batch_size}") as work:
        db = work / "hub.db"
        seed_dead_letters(db, count)
        sink = receiver(work, "hub").start()
        port = free_port()
        admin = "adm-" + new_webhook_secret()[6:40]
        env = {"BENCH_ADMIN_TOKEN": admin, "PORTAL_WEBHOOK_SECRET": new_webhook_secret()}
        hub = hub_server(work, hub_config(work, sink.port, batch_size, concurrency), port, env, db)
        try:
            hub.start()
            start = time.perf_counter()
            status, body = http_request(
                "127.0.0.1",
                port,
                "POST",
                "/v1/admin/dead-letters/replay",
                b'{"all": true}',
                {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
                timeout=limit,
            )
            moved_at = time.perf_counter()
            if status != 200 or orjson.loads(body).get("replayed") != count:
                raise RuntimeError(f"replay answered {status}: {body[:300]!r}")
            done, applied = wait_for(sink, count, limit)
            seen = stats(sink)
        finally:
            hub.stop()
            sink.stop()
    elapsed = done - start
    return {
        "elapsed": elapsed,
        "applied": applied,
        "rate": applied / elapsed,
        "move": moved_at - start,
        "requests": seen["requests"],
        "duplicates": seen["duplicates"],
    }


# -- the naive peer ------------------------------------------------------------------------
def run_naive(count: int, limit: float) -> dict[str, Any]:
    with workdir("replay-naive") as work:
        db = work / "hub.db"
        seed_dead_letters(db, count)
        sink = receiver(work, "naive").start()
        key = webhook_key(new_webhook_secret())
        url = f"http://127.0.0.1:{sink.port}/hooks"
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        try:
            with httpx.Client(timeout=10.0) as client:
                start = time.perf_counter()
                while True:
                    row = conn.execute(
                        "SELECT seq, command_id, payload, correlation_id FROM dead_letters"
                        " ORDER BY seq LIMIT 1"
                    ).fetchone()
                    if row is None:
                        break
                    seq, command_id, payload, correlation = row
                    timestamp = int(time.time())
                    signed = f"{command_id}.{timestamp}.".encode() + payload
                    mac = hmac.new(key, signed, hashlib.sha256).digest()
                    response = client.post(
                        url,
                        content=payload,
                        headers={
                            "content-type": "application/cloudevents+json",
                            "idempotency-key": command_id,
                            "webhook-id": command_id,
                            "webhook-timestamp": str(timestamp),
                            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
                            "x-correlation-id": correlation,
                        },
                    )
                    response.raise_for_status()
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("DELETE FROM dead_letters WHERE seq = ?", (seq,))
                    conn.execute("COMMIT")
                    if time.perf_counter() - start > limit:
                        break
                done, applied = wait_for(
                    sink, count, max(1.0, limit - (time.perf_counter() - start))
                )
            seen = stats(sink)
        finally:
            conn.close()
            sink.stop()
    elapsed = done - start
    return {
        "elapsed": elapsed,
        "applied": applied,
        "rate": applied / elapsed,
        "requests": seen["requests"],
        "duplicates": seen["duplicates"],
    }


def cut(r: dict[str, Any], count: int) -> str:
    if r["applied"] >= count:
        return ""
    return f" (CUT OFF: only {r['applied']:,} of {count:,} delivered)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--count", type=int, help="dead letters (default 100,000; quick 5,000)")
    parser.add_argument("--batch-sizes", default="1,100", help="endpoint batch_size settings")
    parser.add_argument("--limit", type=float, help="seconds per phase before it is cut off")
    parser.add_argument("--concurrency", type=int, default=32, help="delivery.concurrency")
    args = parser.parse_args()
    count = args.count or (5_000 if args.quick else 100_000)
    limit = args.limit or (40.0 if args.quick else 900.0)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    print_header(f"W4 replay: {count:,} dead letters to a loopback receiver", args.quick)
    print(
        f"hub: delivery.concurrency={args.concurrency}, rate_per_second=100000, "
        f"batch_size in {sizes}; peer: naive one-by-one loop (httpx keep-alive)",
        flush=True,
    )
    hub: dict[int, dict[str, Any]] = {}
    for size in sizes:
        hub[size] = r = run_hub(count, size, args.concurrency, limit)
        print(
            f"  hub batch_size={size:<4} {r['elapsed']:.2f}s{cut(r, count)} -> {r['rate']:,.0f}/s "
            f"(moving to the outbox: {r['move'] * 1000:,.0f} ms; {r['requests']:,} requests; "
            f"duplicates at the receiver: {r['duplicates']})",
            flush=True,
        )
    peer = run_naive(count, limit)
    print(
        f"  naive loop          {peer['elapsed']:.2f}s{cut(peer, count)} -> {peer['rate']:,.0f}/s "
        f"({peer['requests']:,} requests; duplicates at the receiver: {peer['duplicates']})",
        flush=True,
    )
    print()
    for size, r in hub.items():
        metric = "throughput" if size == 1 else f"throughput_batch{size}"
        print(result_line("replay", metric, r["rate"], "dead-letters/s", peer["rate"]))


if __name__ == "__main__":
    main()
