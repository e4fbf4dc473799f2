"""Positions ingested per second, end to end: the hub against one write per fix.

A fleet's feed: T trucks, each reporting a fix every 30 s as it drives (~80 km/h), in the
telematics provider's own JSON (examples/partners/telematics/mapping.yaml), signed
(Standard Webhooks). 5 % of the messages are byte-identical resends and a few fixes come
a batch late (out of order). Two workloads, each run against both systems:

- `positions_batch`: the provider's batches, 50 fixes of mixed trucks per webhook (a
  fleet's minute, or a device's buffer after a gap);
- `positions_single`: one fix per webhook.

The hub: `intermodal serve` (one worker, SQLite file, WAL, synchronous=FULL). The clock
runs from the first request to the moment the applier has applied every message (the
fixes are in positions_latest and positions_track, not only in the inbox); afterwards
the store is checked (one latest row per truck, every distinct fix counted).

The peer, same run, same requests, same client: a plain Starlette service as a naive
integration writes positions: verify the signature with the hub's own check, read the
JSON, and for every fix, in its own transaction (WAL, synchronous=FULL), UPDATE the
shipment's latest position (INSERT when it has none) and INSERT the fix into a history
table (INSERT OR IGNORE on the fix id). Its "latest" is whatever came last: no ordering,
no thinning, no jump check. Its clock ends with the last answer (it writes before it
answers).

    python bench/positions.py [--quick] [--trucks N] [--fixes-per-truck N]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from _common import (
    PYTHON,
    ROOT,
    Server,
    free_port,
    hub_server,
    new_webhook_secret,
    print_header,
    result_line,
    serve,
    webhook_key,
    webhook_request,
    workdir,
)

PARTNER = "telematics"
PATH = f"/v1/webhooks/{PARTNER}"
MAPPING = ROOT / "examples" / "partners" / "telematics" / "mapping.yaml"
CONNECTIONS = 32


# -- the feed ------------------------------------------------------------------------------
def fleet_fixes(trucks: int, per_truck: int, run: str, seed: int = 7) -> list[dict[str, Any]]:
    """Every truck's fixes, interleaved as a fleet reports them (by time), a few late."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30 * per_truck + 600)
    fixes = []
    for t in range(trucks):
        lat, lon = 50.0 + rng.uniform(0, 3), 3.0 + rng.uniform(0, 5)
        heading = rng.uniform(0, 6.283)
        for i in range(per_truck):
            at = start + timedelta(seconds=30 * i + t % 30)
            step = 0.0059 * i  # ~0.67 km a fix: ~80 km/h
            fixes.append(
                {
                    "id": f"{run}-T{t:05d}-{i:05d}",
                    "device": f"TRK-{t:05d}",
                    "shipment": f"SHP-{run}-{t:05d}",
                    "ts": at.isoformat().replace("+00:00", "Z"),
                    "lat": round(lat + step * math.cos(heading) + rng.gauss(0, 0.00005), 6),
                    "lng": round(lon + step * math.sin(heading) + rng.gauss(0, 0.00005), 6),
                    "speed_kph": round(rng.uniform(70, 90), 1),
                    "bearing": round(math.degrees(heading) % 360, 1),
                    "accuracy_m": round(rng.uniform(3, 12), 1),
                }
            )
    fixes.sort(key=lambda f: (f["ts"], f["device"]))
    for i in range(0, len(fixes) - 200, 97):  # about 1 % arrive 100 fixes late
        fixes.insert(i + 150, fixes.pop(i))
    return fixes


def requests(secret: str, fixes: list[dict[str, Any]], per_message: int, run: str) -> list[bytes]:
    """Signed webhook requests of `per_message` fixes each, 5 % of them sent twice."""
    rng = random.Random(11)
    key = webhook_key(secret)
    stamp = int(time.time())
    out: list[bytes] = []
    for start in range(0, len(fixes), per_message):
        chunk = fixes[start : start + per_message]
        if per_message == 1:
            body = orjson.dumps({"type": "position", **chunk[0]})
        else:
            body = orjson.dumps(
                {"type": "positions", "batch": f"{run}-{start}", "positions": chunk}
            )
        request = webhook_request(PATH, key, f"{run}-m{start}", body, stamp)
        out.append(request)
        if rng.random() < 0.05:
            out.append(request)  # a resend: same id, same bytes
    return out


# -- sending ---------------------------------------------------------------------------------
def send_all(port: int, prepared: list[bytes]) -> tuple[float, dict[int, int]]:
    """Send every request over CONNECTIONS keep-alive connections; (seconds, statuses)."""
    import socket

    statuses: dict[int, int] = {}
    lock = threading.Lock()
    slices = [prepared[i::CONNECTIONS] for i in range(CONNECTIONS)]

    def worker(mine: list[bytes]) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        reader = sock.makefile("rb")
        try:
            for request in mine:
                sock.sendall(request)
                status = int(reader.readline().split()[1])
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                reader.read(length)
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            reader.close()
            sock.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(s,)) for s in slices if s]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


# -- the hub -----------------------------------------------------------------------------------
def hub_config(work: Path) -> Path:
    path = work / "intermodal.yaml"
    path.write_text(
        "hub:\n"
        "  log_level: warning\n"
        "partners:\n"
        f"  {PARTNER}:\n"
        "    kind: telematics\n"
        "    webhook_secrets: [env:TELEMATICS_WEBHOOK_SECRET]\n"
        f"    mapping: {MAPPING}\n",
        encoding="utf-8",
    )
    return path


def wait_applied(db: Path, limit: float = 600.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            pending = conn.execute("SELECT count(*) FROM inbox WHERE status = 'pending'")
            if not pending.fetchone()[0]:
                return
        time.sleep(0.02)
    raise RuntimeError("the hub did not apply everything in time")


@dataclass
class Measured:
    seconds: float
    fixes: int
    statuses: dict[int, int]
    check: str

    @property
    def per_second(self) -> float:
        return self.fixes / self.seconds


def run_hub(work: Path, secret: str, prepared: list[bytes], fixes: int, trucks: int) -> Measured:
    port = free_port()
    db = work / "hub.db"
    server = hub_server(work, hub_config(work), port, {"TELEMATICS_WEBHOOK_SECRET": secret}, db)
    server.start()
    try:
        started = time.perf_counter()
        _, statuses = send_all(port, prepared)
        wait_applied(db)
        seconds = time.perf_counter() - started
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        latest = conn.execute("SELECT count(*) FROM positions_latest").fetchone()[0]
        counted = sum(
            orjson.loads(row[0]).get("fixes", 0)
            for row in conn.execute("SELECT counts FROM positions_latest")
        )
        track = conn.execute("SELECT count(*) FROM positions_track").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM inbox WHERE status = 'rejected'").fetchone()
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        commands = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    if latest != trucks or counted != fixes or rejected[0] or events or commands:
        raise RuntimeError(
            f"hub: {latest} latest rows for {trucks} trucks, {counted} fixes of {fixes},"
            f" {rejected[0]} rejected messages, {events} events, {commands} commands"
        )
    check = f"{latest} latest rows, {counted} fixes counted, {track} track points, 0 events"
    return Measured(seconds, fixes, statuses, check)


# -- the peer: one write per fix ---------------------------------------------------------------
def naive_positions_app(db_path: str, secret: str) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from intermodal.ingress.signatures import SignatureError, verify

    keys = (webhook_key(secret),)
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS latest (shipment TEXT PRIMARY KEY, device TEXT,"
        " recorded_at TEXT, lat REAL, lng REAL, speed REAL, bearing REAL, accuracy REAL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS history (id TEXT PRIMARY KEY, shipment TEXT, device TEXT,"
        " recorded_at TEXT, lat REAL, lng REAL, speed REAL, bearing REAL, accuracy REAL)"
    )
    lock = threading.Lock()

    def write(fixes: list[dict[str, Any]]) -> None:
        with lock:
            for f in fixes:
                row = (f["device"], f["ts"], f["lat"], f["lng"], f["speed_kph"], f["bearing"],
                       f["accuracy_m"])  # fmt: skip
                db.execute("BEGIN IMMEDIATE")
                try:
                    updated = db.execute(
                        "UPDATE latest SET device=?, recorded_at=?, lat=?, lng=?, speed=?,"
                        " bearing=?, accuracy=? WHERE shipment=?",
                        (*row, f["shipment"]),
                    ).rowcount
                    if not updated:
                        db.execute(
                            "INSERT INTO latest VALUES (?,?,?,?,?,?,?,?)", (f["shipment"], *row)
                        )
                    db.execute(
                        "INSERT OR IGNORE INTO history VALUES (?,?,?,?,?,?,?,?,?)",
                        (f["id"], f["shipment"], *row),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        h = request.headers
        try:
            verify(keys, h.get("webhook-id"), h.get("webhook-timestamp"),
                   h.get("webhook-signature"), body)  # fmt: skip
        except SignatureError as exc:
            return JSONResponse({"error": str(exc)}, 401)
        value = orjson.loads(body)
        fixes = value["positions"] if value.get("type") == "positions" else [value]
        await run_in_threadpool(write, fixes)
        return JSONResponse({"fixes": len(fixes)}, 202)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/webhooks/{partner}", webhook, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def run_peer(work: Path, secret: str, prepared: list[bytes], fixes: int, trucks: int) -> Measured:
    port = free_port()
    db = work / "peer.db"
    server = Server(
        "peer",
        [PYTHON, str(Path(__file__)), "serve-peer", str(port), str(db)],
        port,
        {"BENCH_SECRET": secret},
        work / "peer.log",
    )
    server.start()
    try:
        seconds, statuses = send_all(port, prepared)
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        latest = conn.execute("SELECT count(*) FROM latest").fetchone()[0]
        history = conn.execute("SELECT count(*) FROM history").fetchone()[0]
    if latest != trucks or history != fixes:
        raise RuntimeError(f"peer: {latest} latest rows for {trucks}, {history} of {fixes}")
    return Measured(seconds, fixes, statuses, f"{latest} latest rows, {history} history rows")


# -- the run -------------------------------------------------------------------------------------
def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "serve-peer":
        serve(naive_positions_app(sys.argv[3], os.environ["BENCH_SECRET"]), int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (< 1 minute)")
    parser.add_argument("--trucks", type=int, default=None)
    parser.add_argument("--fixes-per-truck", type=int, default=None)
    args = parser.parse_args()
    print_header("positions: fixes ingested per second, end to end", args.quick)
    trucks = args.trucks or (40 if args.quick else 200)
    per_truck = args.fixes_per_truck or (60 if args.quick else 200)
    single_fixes = 600 if args.quick else 4000
    results = []
    for workload, per_message, limit in (
        ("positions_batch", 50, None),
        ("positions_single", 1, single_fixes),
    ):
        run = f"{workload[10:13]}{int(time.time()) % 100000}"
        fixes = fleet_fixes(trucks, per_truck, run)
        if limit is not None:  # one fix per request: fewer trucks' worth, same shape
            keep = max(1, limit // per_truck)
            fixes = [f for f in fixes if int(f["device"][4:]) < keep]
        used = len({f["device"] for f in fixes})
        secret = new_webhook_secret()
        count = len(requests(secret, fixes, per_message, run))
        print(
            f"\n{workload}: {len(fixes)} fixes of {used} trucks in {count} requests"
            f" ({per_message} fix(es) each, resends included), {CONNECTIONS} connections"
        )
        measured = {}
        for name, runner in (("hub", run_hub), ("peer", run_peer)):
            with workdir(f"positions-{name}") as work:
                signed = requests(secret, fixes, per_message, run)  # signed just before
                m = runner(work, secret, signed, len(fixes), used)
            codes = ", ".join(f"{k}: {v}" for k, v in sorted(m.statuses.items()))
            print(
                f"  {name:<5} {m.seconds:7.2f} s -> {m.per_second:8,.0f} fixes/s"
                f"  (answers {{{codes}}}; {m.check})"
            )
            measured[name] = m
        results.append(
            result_line(
                workload,
                "fixes_per_s",
                measured["hub"].per_second,
                "fixes/s",
                measured["peer"].per_second,
            )
        )
    print()
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
