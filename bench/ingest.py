"""W1: sustained signed-webhook ingest with durable dedup, against two peers in one run.

Each system runs as its own server process on loopback, on a fresh SQLite file
(WAL, synchronous=FULL); the load generator runs in another process and sends
precomputed Standard Webhooks-signed requests, one CloudEvent milestone per body, 10% of
them byte-identical re-deliveries of an earlier message.

- closed loop: N keep-alive connections, each sends its next request as soon as the
  previous one is answered, for a fixed time: sustained acknowledged events/s;
- open loop: requests sent on a fixed 5,000/s schedule whatever the answers; latency runs
  from each request's *scheduled* send time (no coordinated omission): p50/p99 ack latency.

Systems: the hub (`intermodal serve`, group-committed inbox); the naive peer (a Starlette
endpoint doing the same verification and validation, one commit per request, INSERT OR
IGNORE dedup; see _common.naive_app); a DBOS workflow per event (dbos, SQLite system
database in WAL mode with SQLite's default synchronous=FULL; the workflow id is the
webhook-id, so a re-delivery starts nothing; answered once the workflow is recorded).

    python bench/ingest.py [--quick] [--only hub,naive,dbos] [--profile DIR]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    BIN,
    PARTNER,
    PYTHON,
    LoadResult,
    LoadSpec,
    Server,
    cpu_seconds,
    describe_load,
    free_port,
    hub_server,
    naive_server,
    new_webhook_secret,
    percentile,
    print_header,
    result_line,
    run_load,
    serve,
    webhook_key,
    workdir,
)

PATH = f"/v1/webhooks/{PARTNER}"
# seconds per phase: [full, quick]
T = {
    "warmup": [3.0, 1.0],
    "closed": [20.0, 4.0],
    "drain": [120.0, 3.0],
    "open": [20.0, 3.0],
    "grace": [15.0, 2.0],
    "low": [10.0, 3.0],
}


def hub_config(work: Path) -> Path:
    path = work / "intermodal.yaml"
    path.write_text(
        "hub:\n"
        "  log_level: warning\n"
        "  metrics_public: true\n"  # bench/scale.py reads the write transactions' seconds
        # One load generator's address stands for many partners: no cap on its connections.
        "  limits:\n"
        "    max_connections_per_client: null\n"
        "partners:\n"
        f"  {PARTNER}:\n"
        "    kind: carrier\n"
        "    webhook_secrets: [env:ACME_WEBHOOK_SECRET]\n"
        "    owns: [picked_up, in_transit, out_for_delivery, delivered, delivery_failed]\n",
        encoding="utf-8",
    )
    return path


# -- the DBOS peer ----------------------------------------------------------------------
def dbos_app(work: Path, secret: str) -> Any:
    from dbos import DBOS, SetWorkflowID
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from intermodal.canonical.events import EventError, parse_events
    from intermodal.ingress.signatures import SignatureError, verify

    path = work / "dbos.sqlite"
    with sqlite3.connect(path) as db:  # WAL like the others; synchronous stays FULL
        db.execute("PRAGMA journal_mode=WAL")
    DBOS(
        config={
            "name": "bench-ingest",
            "system_database_url": f"sqlite:///{path}",
            "log_level": "WARNING",
        }
    )
    keys = (webhook_key(secret),)

    @DBOS.step()
    async def record(subject: str, milestone: str) -> str:
        return f"{subject}:{milestone}"

    @DBOS.workflow()
    async def process(body: str) -> str:
        import orjson

        event = orjson.loads(body)
        return await record(event["subject"], event["data"]["milestone"])

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        h = request.headers
        try:
            verify(
                keys,
                h.get("webhook-id"),
                h.get("webhook-timestamp"),
                h.get("webhook-signature"),
                body,
            )
            events = parse_events(body)
        except (SignatureError, EventError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        with SetWorkflowID(h["webhook-id"]):
            handle = await DBOS.start_workflow_async(process, body.decode())
        return JSONResponse({"events": len(events), "workflow": handle.workflow_id}, 202)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        DBOS.launch()
        try:
            yield
        finally:
            DBOS.destroy(destroy_registry=True)

    return Starlette(
        routes=[Route(PATH, webhook, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def dbos_server(work: Path, port: int, secret: str) -> Server:
    return Server(
        "dbos",
        [PYTHON, str(Path(__file__)), "--serve-dbos", str(port), str(work)],
        port,
        {"BENCH_SECRET": secret},
        work / "dbos.log",
    )


# -- the ceiling: a bare endpoint ---------------------------------------------------------
def echo_app() -> Any:
    """Reads the body and answers 202 with a small JSON body: no checks, no store."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def webhook(request: Request) -> Response:
        body = await request.body()
        return Response(b'{"accepted":%d}' % len(body), 202, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route(PATH, webhook, methods=["POST"]), Route("/healthz", healthz)])


def echo_server(work: Path, port: int) -> Server:
    return Server(
        "echo",
        [PYTHON, str(Path(__file__)), "--serve-echo", str(port)],
        port,
        {},
        work / "echo.log",
    )


# -- backlog after the load (work acknowledged but not yet processed) ------------------
def hub_backlog(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM inbox WHERE status='pending'").fetchone()[0])


def dbos_backlog(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        row = conn.execute("SELECT count(*) FROM workflow_status WHERE status != 'SUCCESS'")
        return int(row.fetchone()[0])


def wait_drained(backlog: Any, limit: float) -> tuple[float, int]:
    start = time.perf_counter()
    left = backlog()
    while left and time.perf_counter() - start < limit:
        time.sleep(0.1)
        left = backlog()
    return time.perf_counter() - start, left


# -- one system under both loads ---------------------------------------------------------
def measure(
    name: str, args: argparse.Namespace, profile_dir: Path | None
) -> dict[str, LoadResult | float | int]:
    quick = args.quick
    secret = new_webhook_secret()
    with workdir(f"ingest-{name}") as work:
        port = free_port()
        if name == "hub":
            server = hub_server(
                work, hub_config(work), port, {"ACME_WEBHOOK_SECRET": secret}, work / "hub.db"
            )
            backlog = lambda: hub_backlog(work / "hub.db")  # noqa: E731
        elif name == "naive":
            server = naive_server(work, port, secret)
            backlog = lambda: 0  # noqa: E731
        elif name == "dbos":
            server = dbos_server(work, port, secret)
            backlog = lambda: dbos_backlog(work / "dbos.sqlite")  # noqa: E731
        else:
            server = echo_server(work, port)
            backlog = lambda: 0  # noqa: E731
        server.start()
        out: dict[str, Any] = {}
        try:
            # closed loop: sustained throughput
            duration = T["closed"][quick]
            cap = 60_000 if quick else 400_000
            spy: list[subprocess.Popen[bytes]] = []
            cpu0 = [0.0, 0.0]

            def started() -> None:
                cpu0[:] = [cpu_seconds(server.pid), time.perf_counter()]
                nonlocal spy
                if profile_dir is not None and name == "hub":
                    spy = start_profiler(server.pid, profile_dir, duration)

            closed = run_load(
                LoadSpec(
                    "127.0.0.1",
                    port,
                    PATH,
                    secret,
                    run="c",
                    mode="closed",
                    count=cap,
                    connections=args.connections,
                    duration=duration,
                    warmup=2000,
                    warmup_seconds=T["warmup"][quick],
                ),
                on_start=started,
            )
            wall = time.perf_counter() - cpu0[1]
            used = cpu_seconds(server.pid) - cpu0[0]
            out["server_cpu"] = used / wall
            answered = closed.completed + sum(closed.warmup_statuses.values())
            out["cpu_us"] = used / max(answered, 1) * 1e6
            for p in spy:
                p.wait(timeout=duration + 60)
            print(describe_load(name, closed), flush=True)
            drained, left = wait_drained(backlog, T["drain"][quick])
            out["drain_s"], out["drain_left"] = drained, left
            print(
                f"  {name:<8} server CPU (warm-up + closed loop): {out['server_cpu']:.2f} cores, "
                f"{out['cpu_us']:,.0f} us per request; "
                f"backlog after: drained in {drained:.1f}s, {left} left "
                f"(end-to-end {closed.completed / (closed.elapsed + drained):,.0f} events/s)",
                flush=True,
            )
            out["closed"] = closed
            # open loop: ack latency at fixed offered rates (the informational low rate
            # first, so that it does not meet the backlog the 5k/s run may leave behind)
            runs = [("open_low", args.low_rate, "l")] if args.low_rate else []
            runs.append(("open", args.rate, "o"))
            for key, rate, tag in runs:
                open_duration = T["open"][quick] if key == "open" else T["low"][quick]
                opened = run_load(
                    LoadSpec(
                        "127.0.0.1",
                        port,
                        PATH,
                        secret,
                        run=tag,
                        mode="open",
                        count=int(rate * open_duration),
                        connections=args.connections,
                        duration=open_duration,
                        rate=rate,
                        warmup=2000,
                        warmup_seconds=T["warmup"][quick],
                        grace=T["grace"][quick],
                    )
                )
                print(describe_load(name, opened) + f" [offered {rate:,.0f}/s]", flush=True)
                out[key] = opened
                wait_drained(backlog, T["drain"][quick])
        finally:
            server.stop()
            if server.proc is not None and server.proc.returncode not in (0, -2, None):
                print(f"  {name}: server exited with {server.proc.returncode}: {server.tail()}")
    return out


def start_profiler(pid: int, directory: Path, duration: float) -> list[subprocess.Popen[bytes]]:
    """py-spy the hub: `ingest-hub-gil.folded` samples only the thread holding the GIL
    (where a GIL-bound server's time goes), `ingest-hub-wall.folded` every thread."""
    directory.mkdir(parents=True, exist_ok=True)
    procs = []
    for kind, extra in (("gil", ["--gil"]), ("wall", [])):
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "py-spy"),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, int(duration) - 1)),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    *extra,
                    "--output",
                    str(directory / f"ingest-hub-{kind}.folded"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--only", default="hub,naive,dbos", help="systems to run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=5000.0, help="open-loop offered req/s")
    parser.add_argument(
        "--low-rate",
        type=float,
        help="also measure latency at this offered rate (informational; full mode: 500)",
    )
    parser.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        help="also load a bare Starlette endpoint (no checks, no store): what one Python "
        "process can answer on this machine at all (default: on in full mode)",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the hub's closed loop into DIR (folded stacks)"
    )
    parser.add_argument("--serve-dbos", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo", metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.low_rate is None and not args.quick:
        args.low_rate = 500.0
    if args.ceiling is None:
        args.ceiling = not args.quick
    if args.serve_echo:
        serve(echo_app(), int(args.serve_echo))
        return
    if args.serve_dbos:
        port, directory = args.serve_dbos
        serve(dbos_app(Path(directory), os.environ["BENCH_SECRET"]), int(port))
        return

    print_header("W1 ingest: signed webhooks, durable dedup, 10% re-deliveries", args.quick)
    print(
        f"load: {args.connections} keep-alive connections; closed loop "
        f"{T['closed'][args.quick]:g}s; open loop {args.rate:,.0f} req/s for "
        f"{T['open'][args.quick]:g}s (after {T['warmup'][args.quick]:g}s warm-up each)",
        flush=True,
    )
    systems = [s.strip() for s in args.only.split(",") if s.strip()]
    if args.ceiling:
        systems.append("echo")
    found: dict[str, dict[str, Any]] = {}
    for name in systems:
        found[name] = measure(name, args, args.profile)

    print()
    low = f"{'p99@' + f'{args.low_rate:,.0f}/s':>14}" if args.low_rate else ""
    print(
        f"{'system':<8} {'events/s':>10} {'p50@' + f'{args.rate:,.0f}/s':>13} "
        f"{'p99@' + f'{args.rate:,.0f}/s':>13} {'unfinished':>10}{low} {'CPU us/req':>11}"
    )
    for name, f in found.items():
        c, o = f["closed"], f["open"]
        extra = ""
        if "open_low" in f:
            lo = f["open_low"]
            extra = f"{percentile(lo.latencies_ms, 99):>11.2f} ms"
        print(
            f"{name:<8} {c.throughput:>10,.0f} {percentile(o.latencies_ms, 50):>10.2f} ms "
            f"{percentile(o.latencies_ms, 99):>10.2f} ms {o.unfinished:>10}{extra} "
            f"{f['cpu_us']:>11,.0f}"
        )
    print(
        "(latency from each request's scheduled send time; requests still unanswered at the "
        "cut-off count with their wait so far, so a saturated system's figures are lower "
        "bounds; 'echo' is a bare Starlette endpoint: the ceiling of one Python process here)"
    )
    if "hub" not in found:
        return
    hub = found["hub"]
    lines = []
    for peer in ("naive", "dbos"):
        if peer not in found:
            continue
        p = found[peer]
        lines.append(
            result_line(
                "ingest",
                f"throughput_vs_{peer}",
                hub["closed"].throughput,
                "events/s",
                p["closed"].throughput,
            )
        )
        for q in (50, 99):
            lines.append(
                result_line(
                    "ingest",
                    f"p{q}_at_{args.rate / 1000:g}k_vs_{peer}",
                    percentile(hub["open"].latencies_ms, q),
                    "ms",
                    percentile(p["open"].latencies_ms, q),
                )
            )
    print()
    print("\n".join(lines))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
