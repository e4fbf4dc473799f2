"""W5: resident memory of a hub holding 100,000 in-flight shipments, against a peer.

In flight means created and not delivered, with their outbound commands pending: each
shipment gets one canonical milestone (`picked_up`) through `POST /v1/events` (batches of
1,000 by default), which makes one command for the hub's only endpoint; that endpoint is down
(nothing listens on its port), so every command stays pending, retried and then held
behind the open breaker, for as long as the run lasts.

The memory is the server process's resident set (VmRSS in /proc/<pid>/status, read from
this process, never from inside the server): once when the server is up and idle, once
after the load when everything is applied (inbox drained, every command in the outbox)
and a few seconds have passed. The figure is the growth, scaled to 100,000 shipments.
Target: <= 25 MB per 100k above the idle process.

The batch size matters more than the shipment count: the hub keeps no shipment in
memory, but parsing one batch briefly needs memory in proportion to it, and part of that
high-water mark stays resident (allocator fragmentation). `--batch 10000` shows it.

Peer (same run, same batches, same client): a naive hub that keeps shipments in memory,
a dict of pydantic models (the shipment's state and its pending commands, each command a
model holding its CloudEvent payload), behind a Starlette endpoint that parses the batch
with the hub's own event parser. That is what "keep it in the process" costs per shipment.

    python bench/memory.py [--quick] [--shipments N]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from _common import (
    PARTNER,
    PYTHON,
    Server,
    free_port,
    http_request,
    hub_server,
    new_webhook_secret,
    print_header,
    process_tree,
    result_line,
    workdir,
)

BATCH = 1_000  # events per POST; --batch changes it (see BENCHMARKS.md, W5)
SETTLE_SECONDS = 6.0
TARGET_MB_PER_100K = 25.0


def rss_by_process(pid: int) -> list[float]:
    """Resident set size (MB) of a process and of each of its child processes (the hub's
    applier, multiprocessing's resource tracker), from /proc/<pid>/status (VmRSS)."""
    sizes = []
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
                break
        else:
            raise RuntimeError(f"no VmRSS for pid {member}")
    return sizes


def rss_mb(pid: int) -> float:
    """The resident set of a process and its children together."""
    return sum(rss_by_process(pid))


def hub_config(work: Path, down_port: int) -> Path:
    path = work / "intermodal.yaml"
    path.write_text(
        "hub:\n"
        "  log_level: warning\n"
        "partners:\n"
        f"  {PARTNER}:\n"
        "    kind: carrier\n"
        "    tokens:\n"
        "      - token: env:ACME_API_TOKEN\n"
        "        scopes: [events:write]\n"
        "endpoints:\n"
        "  portal:\n"
        f"    url: http://127.0.0.1:{down_port}/hooks\n"
        "    max_attempts: 100\n",
        encoding="utf-8",
    )
    return path


def batch_body(first: int, count: int) -> bytes:
    """Events `first`..`first + count - 1`: one picked_up milestone for each shipment."""
    at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps(
        [
            {
                "specversion": "1.0",
                "id": f"evt-mem-{i}",
                "source": PARTNER,
                "type": "intermodal.shipment.milestone",
                "subject": f"SHP-MEM-{i:07d}",
                "time": at,
                "data": {"milestone": "picked_up", "occurred_at": at},
            }
            for i in range(first, first + count)
        ]
    )


def load(server: Server, token: str, shipments: int, batch: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for first in range(0, shipments, batch):
        body = batch_body(first, min(batch, shipments - first))
        status, answer = http_request("127.0.0.1", server.port, "POST", "/v1/events", body, headers)
        if status != 202:
            raise RuntimeError(f"{server.name}: batch answered {status}: {answer[:300]!r}")


def wait_hub_settled(db: Path, shipments: int, limit: float) -> None:
    """Every message applied and every shipment's command in the outbox, still pending."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            pending = conn.execute("SELECT count(*) FROM inbox WHERE status = 'pending'")
            inbox_left = pending.fetchone()[0]
            commands = conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'")
            waiting = commands.fetchone()[0]
            ships = conn.execute("SELECT count(*) FROM shipments").fetchone()[0]
        if not inbox_left and waiting == shipments and ships == shipments:
            return
        time.sleep(0.2)
    raise RuntimeError(f"hub not settled: {inbox_left} pending, {waiting} commands, {ships}")


def wait_peer_settled(server: Server, shipments: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status, body = http_request("127.0.0.1", server.port, "GET", "/stats")
        if status == 200 and orjson.loads(body)["shipments"] == shipments:
            return
        time.sleep(0.2)
    raise RuntimeError("peer did not hold every shipment")


def measure(
    name: str, server: Server, token: str, shipments: int, batch: int, settled: Any
) -> float:
    server.start()
    try:
        time.sleep(SETTLE_SECONDS)  # imports done, workers started, first passes run
        idle_parts = rss_by_process(server.pid)
        started = time.perf_counter()
        load(server, token, shipments, batch)
        settled()
        loaded_in = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        after_parts = rss_by_process(server.pid)
    finally:
        server.stop()
    idle, after = sum(idle_parts), sum(after_parts)
    if len(idle_parts) > 1:
        print(
            f"  {name:<6} per process (server first, then its children), MB: idle "
            f"{', '.join(f'{x:.1f}' for x in idle_parts)}; after "
            f"{', '.join(f'{x:.1f}' for x in after_parts)}"
        )
    growth = after - idle
    per_100k = growth * 100_000 / shipments
    print(
        f"  {name:<6} idle {idle:6.1f} MB, holding {shipments:,} shipments {after:6.1f} MB "
        f"(+{growth:.1f} MB, loaded and applied in {loaded_in:.1f} s) -> {per_100k:.1f} MB "
        "per 100k shipments",
        flush=True,
    )
    return per_100k


# -- the peer: shipments in a dict of pydantic models ------------------------------------
def peer_app(token: str) -> Any:
    from pydantic import BaseModel
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from intermodal.canonical.events import ShipmentMilestone, parse_events

    class PendingCommand(BaseModel):
        command_id: str
        endpoint: str
        payload: dict[str, Any]
        attempts: int = 0

    class HeldShipment(BaseModel):
        key: str
        state: str | None = None
        events: list[ShipmentMilestone] = []
        commands: list[PendingCommand] = []

    held: dict[str, HeldShipment] = {}

    async def events(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, 401)
        parsed = parse_events(await request.body(), 100_000)
        for event in parsed:
            ship = held.setdefault(event.subject, HeldShipment(key=event.subject))
            if isinstance(event, ShipmentMilestone):
                ship.events.append(event)
                ship.state = event.data.milestone.value
                ship.commands.append(
                    PendingCommand(
                        command_id=f"cmd-{event.id}",
                        endpoint="portal",
                        payload={
                            "type": "intermodal.shipment.milestone",
                            "subject": event.subject,
                            "data": {"milestone": ship.state},
                        },
                    )
                )
        return JSONResponse({"accepted": len(parsed)}, 202)

    async def stats(_request: Request) -> Response:
        return JSONResponse({"shipments": len(held)})

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/events", events, methods=["POST"]),
            Route("/stats", stats),
            Route("/healthz", healthz),
        ]
    )


def serve_peer(port: int, token: str) -> None:
    import uvicorn

    uvicorn.run(peer_app(token), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-peer":
        serve_peer(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 shipments, under a minute")
    parser.add_argument("--shipments", type=int, help="default 100,000 (10,000 with --quick)")
    parser.add_argument("--batch", type=int, default=BATCH, help="events per POST /v1/events")
    args = parser.parse_args()
    shipments = args.shipments or (10_000 if args.quick else 100_000)
    print_header(f"W5 memory: {shipments:,} in-flight shipments, resident set", args.quick)
    print(
        f"one picked_up milestone per shipment (batches of {args.batch:,}); each makes a"
        " command for an endpoint that is down, so all stay pending; VmRSS read from outside"
        f" the server when idle and {SETTLE_SECONDS:g}s after everything is applied",
        flush=True,
    )
    token = "bench-" + new_webhook_secret()[6:38]
    limit = 60.0 + shipments / 500
    figures: dict[str, float] = {}
    with workdir("memory-hub") as work:
        db = work / "hub.db"
        server = hub_server(
            work, hub_config(work, free_port()), free_port(), {"ACME_API_TOKEN": token}, db
        )
        figures["hub"] = measure(
            "hub",
            server,
            token,
            shipments,
            args.batch,
            lambda: wait_hub_settled(db, shipments, limit),
        )
    with workdir("memory-peer") as work:
        port = free_port()
        peer = Server(
            "peer",
            [PYTHON, str(Path(__file__)), "serve-peer", str(port), token],
            port,
            log=work / "peer.log",
        )
        figures["naive"] = measure(
            "naive",
            peer,
            token,
            shipments,
            args.batch,
            lambda: wait_peer_settled(peer, shipments, limit),
        )
    verdict = "within" if figures["hub"] <= TARGET_MB_PER_100K else "ABOVE"
    print(f"\ntarget <= {TARGET_MB_PER_100K:g} MB per 100k: the hub is {verdict} it")
    if shipments < 100_000:
        print(
            "(scaled from a smaller run: the one-off cost of the first batches is multiplied"
            " too, so this over-states the 100k figure)"
        )
    print(result_line("memory", "rss_growth_per_100k", figures["hub"], "MB", figures["naive"]))


if __name__ == "__main__":
    main()
