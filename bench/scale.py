"""Scaling on one machine: W1 closed loop with 1, 2, 4, 8 hub workers against a bare echo
with as many processes, in one run.

For each N: `intermodal serve --workers N` (N ingest processes on one SO_REUSEPORT port,
the applier and dispatcher in the core worker; intermodal/serve.py) on a fresh SQLite
file (WAL, synchronous=FULL), then a bare Starlette endpoint (reads the body, answers 202:
no checks, no store) served by N processes on one SO_REUSEPORT port the same way (uvicorn,
uvloop, httptools). The load is bench/ingest.py's closed loop: precomputed Standard
Webhooks-signed requests, 10% re-deliveries, keep-alive connections, sent by `--clients`
load generator processes (default: one per two workers) so the generator is not the
ceiling. Events/s counts acknowledged requests; after each hub run the backlog is
drained and checked (every accepted message applied).

The figures that matter are the curve (events/s by workers) and its efficiency (events/s
at N / N x events/s at 1): the 16-core target is >= 0.7 from 1 to 8. A machine with fewer
cores than N + the generators measures contention, not scaling: the header prints nproc.
Each hub run also prints how busy its store's writes were over the closed loop (from
`intermodal_store_write_seconds` in /metrics): on SQLite the share of the time the one
writer lock was held, by stage, and its microseconds an event, the part of a node that
more cores cannot make faster; on PostgreSQL how many write transactions were open at
once, on average, and (a server on this machine) the cores PostgreSQL itself used; and
its CPU by process role (workers, inbox writer, appliers), from the names the hub gives
its processes. For the hub and the echo alike it prints how many of the machine's cores
were busy: a run that leaves cores idle is held back by a wait, not by the CPU.

`--pause-appliers` stops the appliers (SIGSTOP) for the closed loop and lets them go
before the drain: what ingest alone does, without apply's share of the cores and of the
writer lock. Its RESULT lines are named `w1_ingest_only_...`, apart from the real curve.

    python bench/scale.py [--quick] [--workers 1,2,4,8] [--postgres ADMIN_URL] [--pause-appliers]
    python bench/scale.py [--quick] --postgres ADMIN_URL --nodes 1,2,3 [--workers W]

With `--nodes`, each count is that many `intermodal serve --workers W` nodes on one fresh
PostgreSQL database, the load generators spread round-robin over their ports (a load
balancer's job), against an echo with as many processes as the nodes' workers.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from _common import (
    BIN,
    PYTHON,
    LoadResult,
    LoadSpec,
    Server,
    cpu_by_process,
    free_port,
    machine_cpu,
    new_webhook_secret,
    postgres_cpu,
    postgres_cpu_since,
    print_header,
    result_line,
    run_load,
    workdir,
)
from ingest import PATH, echo_app, hub_config
from intermodal.engine.applier_process import APPLIER_NAME
from intermodal.foresight.documents_reading import READER_NAME
from intermodal.serve import WORKER_NAME, WRITER_NAME

# seconds per phase: [full, quick]
T = {"warmup": [3.0, 1.0], "closed": [15.0, 4.0], "drain": [180.0, 30.0]}


def echo_processes(work: Path, port: int, workers: int) -> Server:
    """The bare echo in `workers` processes on one SO_REUSEPORT port."""
    return Server(
        f"echo x{workers}",
        [PYTHON, str(Path(__file__)), "--serve-echo", str(port), str(workers)],
        port,
        {},
        work / "echo.log",
    )


def serve_echo(port: int, workers: int) -> None:
    """A parent that starts `workers` echo processes and stops them on SIGINT/SIGTERM."""
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_echo_worker, args=(port,)) for _ in range(workers)]
    for child in children:
        child.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    for child in children:
        child.terminate()
    for child in children:
        child.join(10)


def _echo_worker(port: int) -> None:
    import uvicorn

    from intermodal.serve import listening_socket

    sock = listening_socket("127.0.0.1", port)
    config = uvicorn.Config(
        echo_app(),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def hub_processes(work: Path, port: int, workers: int, secret: str, db: str) -> Server:
    command = [str(BIN / "intermodal"), "serve", "--config", str(hub_config(work)), "--db", db]
    return Server(
        f"hub x{workers}",
        [*command, "--port", str(port), "--workers", str(workers)],
        port,
        {"ACME_WEBHOOK_SECRET": secret},
        work / "hub.log",
        ready_path="/readyz",
    )


def write_seconds(ports: list[int]) -> dict[str, float]:
    """Each stage's `intermodal_store_write_seconds` sum so far, over every node (the bench
    configuration serves /metrics without credentials; each node's sums every worker's):
    on SQLite, how long the writer lock has been held, which all writers take in turn."""
    found = {"ingest": 0.0, "apply": 0.0}
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                stage = sample.labels.get("stage")
                if sample.name == "intermodal_store_write_seconds_sum" and stage in found:
                    found[stage] += sample.value
    return found


def closed_loop(
    ports: list[int], secret: str, run: str, clients: int, args: argparse.Namespace,
    servers: list[int], hub: bool = False,
) -> Any:  # fmt: skip
    """`clients` load generators at once, each with its share of the connections, spread
    round-robin over `ports` (one per node); their answers summed over the longest one's
    measured time; the servers' CPU (each one's whole process tree) from the first
    generator's start, after the requests are signed; for a hub, its write transactions'
    seconds per second of that time, by stage (`write_seconds`), and its cores by process
    role (`roles`); the whole machine's busy cores (`machine_cpu`).
    `--pause-appliers`: the appliers stopped from the start to the end."""
    results: list[LoadResult] = []
    began: list[float] = []
    writes: dict[str, float] = {}
    database: list[float | None] = []
    processes: dict[tuple[int, str], float] = {}
    machine: list[float] = []
    paused: list[int] = []
    lock = threading.Lock()

    def started() -> None:
        with lock:
            if not began:
                if hub:
                    writes.update(write_seconds(ports))
                    database[:] = [postgres_cpu() if args.postgres else None]
                processes.update(_cpu(servers))
                machine[:] = [machine_cpu()]
                if hub and args.pause_appliers:
                    paused[:] = [p for p, name in processes if name == APPLIER]
                    for pid in paused:
                        os.kill(pid, signal.SIGSTOP)
                began[:] = [time.perf_counter()]

    errors: list[BaseException] = []
    per_client = max(1, args.connections // clients)

    def one(i: int) -> None:
        spec = LoadSpec(
            "127.0.0.1",
            ports[i % len(ports)],
            PATH,
            secret,
            run=f"{run}{i}",
            mode="closed",
            count=250_000 if args.quick else 1_000_000,
            connections=per_client,
            duration=T["closed"][args.quick],
            warmup=1000,
            warmup_seconds=T["warmup"][args.quick],
        )
        try:
            results.append(run_load(spec, on_start=started))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    if errors:
        raise errors[0]
    now = _cpu(servers)
    busy = machine_cpu() - machine[0]
    wall = time.perf_counter() - began[0]
    cores = (sum(now.values()) - sum(processes.values())) / wall
    roles: dict[str, float] = {}
    postgres = None
    if hub:
        supervised = any(name.startswith(WORKER) for _, name in now)
        for key, seconds in now.items():
            role = _role(key[1], supervised)
            roles[role] = roles.get(role, 0.0) + (seconds - processes.get(key, 0.0)) / wall
        writes = {k: (v - writes[k]) / wall for k, v in write_seconds(ports).items()}
        spent_database = postgres_cpu_since(database[0] if database else None)
        postgres = None if spent_database is None else spent_database / wall
    completed = sum(r.completed for r in results)
    ok = sum(r.ok for r in results)
    elapsed = max(r.elapsed for r in results)
    generator = sum(r.client_cpu for r in results) / elapsed
    machine_cores = busy / wall
    return (
        completed / elapsed,
        ok,
        completed,
        generator,
        cores,
        writes,
        postgres,
        roles,
        machine_cores,
    )


def _cpu(servers: list[int]) -> dict[tuple[int, str], float]:
    """CPU seconds so far of every process of the servers' trees, by pid and name."""
    found: dict[tuple[int, str], float] = {}
    for pid in servers:
        found.update(cpu_by_process(pid))
    return found


WORKER = WORKER_NAME.decode()
APPLIER = APPLIER_NAME.decode()
ROLES = ("workers", "inbox writer", "appliers", "document reader", "supervisor", "other")
_NAMED = {
    WRITER_NAME.decode(): "inbox writer",
    APPLIER: "appliers",
    READER_NAME.decode(): "document reader",
}


def _role(name: str, supervised: bool) -> str:
    """A hub process's role from its name: `intermodal` is the supervisor where there are
    `hub-worker-N` processes, and the one worker where there are not."""
    if name.startswith(WORKER) or (name == "intermodal" and not supervised):
        return "workers"
    if name == "intermodal":
        return "supervisor"
    return _NAMED.get(name, "other")


def _w1(args: argparse.Namespace) -> str:
    """The RESULT lines' workload prefix: ingest alone is not the W1 curve."""
    return "w1_ingest_only" if args.pause_appliers else "w1"


def inbox_left(db: str) -> int:
    if db.startswith("sqlite:///"):
        path = db.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            row = conn.execute("SELECT count(*) FROM inbox WHERE status='pending'").fetchone()
            return int(row[0])
    import psycopg

    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        found = conn.execute("SELECT count(*) FROM inbox WHERE status='pending'").fetchone()
        return int(found[0]) if found else 0


def fresh_postgres(admin: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + f"/{name}"


def measure(kind: str, workers: int, args: argparse.Namespace, nodes: int = 1) -> dict[str, float]:
    """One hub (or echo) run: `nodes` hub nodes of `workers` workers each on one database
    (nodes > 1: PostgreSQL), or an echo of `workers` processes."""
    secret = new_webhook_secret()
    clients = args.clients or max(nodes, workers * nodes // 2)
    label = f"{kind}{workers}" if nodes == 1 else f"{kind}{nodes}n"
    with workdir(f"scale-{label}") as work:
        ports = [free_port() for _ in range(nodes if kind == "hub" else 1)]
        db = ""
        servers: list[Server] = []
        if kind == "hub":
            if args.postgres:
                db = fresh_postgres(args.postgres, f"intermodal_scale_{label}")
            else:
                db = f"sqlite:///{work / 'hub.db'}"
            for k, port in enumerate(ports):
                node = work / f"node{k}"
                node.mkdir()
                servers.append(hub_processes(node, port, workers, secret, db))
        else:
            servers.append(echo_processes(work, ports[0], workers))
        try:
            for server in servers:
                server.start()
            time.sleep(0.5 if kind == "echo" else 1.0)  # every worker up, not only the first
            rate, ok, completed, generator, cores, writes, postgres, roles, machine = closed_loop(
                ports, secret, kind[0], clients, args, [s.pid for s in servers], kind == "hub"
            )
            what = f"x{workers}" if nodes == 1 else f"{nodes} node(s) x{workers}"
            database = "" if postgres is None else f", PostgreSQL {postgres:.2f} cores"
            print(
                f"  {kind:<4} {what}: {rate:>8,.0f} events/s ({ok} of {completed} answers"
                f" 2xx; server {cores:.2f} cores{database}, {clients} generator(s)"
                f" {generator:.2f} cores)",
                flush=True,
            )
            out = {"rate": rate, "cores": cores, "generator": generator, "bad": completed - ok}
            rest = machine - cores - generator - (postgres or 0.0)
            print(
                f"         the machine busy {machine:.2f} of {os.cpu_count()} cores"
                f" (the rest: {max(rest, 0.0):.2f}, the kernel's own work and other processes)",
                flush=True,
            )
            if kind == "hub":
                by_role = ", ".join(
                    f"{role} {roles[role]:.2f}" for role in ROLES if roles.get(role, 0) >= 0.005
                )
                print(f"         cores by process: {by_role}", flush=True)
                held = writes["ingest"] + writes["apply"]
                out["write_share"] = held
                per_event = f"{held / max(rate, 1) * 1e6:.0f} us an event"
                if db.startswith("sqlite"):
                    print(
                        f"         the writer lock held {held:.0%} of the time (ingest"
                        f" {writes['ingest']:.0%}, apply {writes['apply']:.0%}; {per_event})",
                        flush=True,
                    )
                else:  # side by side: how many were open at once, on average
                    print(
                        f"         write transactions open {held:.2f} at a time on average"
                        f" (ingest {writes['ingest']:.2f}, apply {writes['apply']:.2f};"
                        f" {per_event})",
                        flush=True,
                    )
                began = time.perf_counter()
                left = inbox_left(db)
                while left and time.perf_counter() - began < T["drain"][args.quick]:
                    time.sleep(0.2)
                    left = inbox_left(db)
                out["drain_s"], out["left"] = time.perf_counter() - began, left
                print(f"         backlog drained in {out['drain_s']:.1f} s, {left} left")
            return out
        finally:
            for server in servers:
                server.stop(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 2 workers, under a minute")
    parser.add_argument("--workers", help="comma-separated counts (default 1,2,4,8)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--clients", type=int, help="load generators (default: workers / 2)")
    parser.add_argument("--postgres", help="admin URL: the hub on PostgreSQL, not SQLite")
    parser.add_argument(
        "--nodes",
        help="with --postgres: comma-separated node counts (e.g. 1,2,3), each node"
        " `serve --workers W` with W the first of --workers (default 1), on one database",
    )
    parser.add_argument(
        "--pause-appliers",
        action="store_true",
        help="stop the appliers during the closed loop (ingest alone; RESULT w1_ingest_only_)",
    )
    parser.add_argument("--serve-echo", nargs=2, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo(int(args.serve_echo[0]), int(args.serve_echo[1]))
        return
    if args.nodes:
        if not args.postgres:
            sys.exit("--nodes needs --postgres: nodes share one PostgreSQL database")
        by_nodes(args)
        return
    counts = [int(n) for n in (args.workers or ("1,2" if args.quick else "1,2,4,8")).split(",")]

    print_header("scale: W1 closed loop by hub workers, against a bare echo", args.quick)
    store = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    print(
        f"store: {store}; {args.connections} keep-alive connections; closed loop"
        f" {T['closed'][args.quick]:g}s after {T['warmup'][args.quick]:g}s warm-up;"
        f" cores here: {os.cpu_count()}",
        flush=True,
    )
    found: dict[int, dict[str, dict[str, float]]] = {}
    for n in counts:
        found[n] = {"hub": measure("hub", n, args), "echo": measure("echo", n, args)}

    base = found[counts[0]]
    print()
    print(f"{'workers':>7} {'hub ev/s':>9} {'echo ev/s':>10} {'hub/echo':>8} {'hub eff.':>8}")
    for n, f in found.items():
        hub, echo = f["hub"]["rate"], f["echo"]["rate"]
        efficiency = hub / (base["hub"]["rate"] * n / counts[0])
        print(f"{n:>7} {hub:>9,.0f} {echo:>10,.0f} {hub / echo:>8.2f} {efficiency:>8.2f}")
    print("(efficiency: events/s at N over N times events/s at the first count)")
    what = _w1(args)
    speedup = "ingest_only_speedup" if args.pause_appliers else "speedup"
    lines = [
        result_line(
            "scale",
            f"{what}_events_per_s_{n}_workers",
            f["hub"]["rate"],
            "events/s",
            f["echo"]["rate"],
        )
        for n, f in found.items()
    ]
    if len(counts) > 1:
        last = counts[-1]
        lines.append(
            result_line(
                "scale",
                f"{speedup}_{counts[0]}_to_{last}_workers",
                found[last]["hub"]["rate"] / base["hub"]["rate"],
                "x",
                found[last]["echo"]["rate"] / base["echo"]["rate"],
            )
        )
    print()
    print("\n".join(lines))
    sys.stdout.flush()
    if any(f["hub"].get("left") or f["hub"]["bad"] for f in found.values()):
        sys.exit("some answers were not 2xx, or the backlog did not drain")


def by_nodes(args: argparse.Namespace) -> None:
    """Nodes 1, 2, 3... on one PostgreSQL database, against an echo with as many processes
    as the nodes have workers in all."""
    counts = [int(n) for n in args.nodes.split(",")]
    workers = int((args.workers or "1").split(",")[0])
    print_header("scale: W1 closed loop by hub nodes on one PostgreSQL database", args.quick)
    print(
        f"store: PostgreSQL; {workers} worker(s) a node; {args.connections} keep-alive"
        f" connections spread over the nodes; closed loop {T['closed'][args.quick]:g}s"
        f" after {T['warmup'][args.quick]:g}s warm-up; cores here: {os.cpu_count()}",
        flush=True,
    )
    found = {
        n: {"hub": measure("hub", workers, args, n), "echo": measure("echo", workers * n, args)}
        for n in counts
    }
    base = found[counts[0]]["hub"]["rate"]
    print()
    print(f"{'nodes':>7} {'hub ev/s':>9} {'echo ev/s':>10} {'hub/echo':>8} {'hub eff.':>8}")
    for n, f in found.items():
        hub, echo = f["hub"]["rate"], f["echo"]["rate"]
        print(
            f"{n:>7} {hub:>9,.0f} {echo:>10,.0f} {hub / echo:>8.2f}"
            f" {hub / (base * n / counts[0]):>8.2f}"
        )
    lines = [
        result_line(
            "scale",
            f"{_w1(args)}_events_per_s_{n}_nodes",
            f["hub"]["rate"],
            "events/s",
            f["echo"]["rate"],
        )
        for n, f in found.items()
    ]
    print()
    print("\n".join(lines))
    sys.stdout.flush()
    if any(f["hub"].get("left") or f["hub"]["bad"] for f in found.values()):
        sys.exit("some answers were not 2xx, or the backlog did not drain")


if __name__ == "__main__":
    main()
