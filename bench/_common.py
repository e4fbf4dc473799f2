"""Helpers shared by the benchmarks in bench/ (not a benchmark itself).

- the machine and the moment (`machine()`), printed at the top of every run,
- starting and stopping servers as subprocesses (`Server`), each on a free loopback port,
- canonical events and precomputed, Standard Webhooks-signed HTTP/1.1 requests, so a load
  generator spends no CPU on JSON or HMAC while it measures,
- a load generator (`run_load` in its own process): raw asyncio protocol, keep-alive,
  many connections, closed loop (every connection always busy) or open loop (requests
  sent on a fixed schedule, latency measured from the *scheduled* send time, so a stalled
  server cannot hide its stall: no coordinated omission),
- the naive peer server (`serve-naive`): a plain Starlette app, one SQLite commit per
  request, which the ingest and batch benchmarks measure the hub against,
- the `RESULT` line every benchmark ends with.

`python bench/_common.py serve-naive PORT DBFILE` runs the naive peer; any other
invocation (e.g. `--quick` from `make bench`) does nothing and exits 0.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
PARTNER = "acme-carrier"
MILESTONES = ("picked_up", "in_transit", "out_for_delivery", "delivered")


# -- the machine ----------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = "unknown"
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "load": load,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
    }


def print_header(title: str, quick: bool) -> None:
    m = machine()
    print(f"== {title} ({'quick' if quick else 'full'}) ==")
    print(
        f"machine: nproc={m['nproc']} cpu={m['cpu']!r} load(1/5/15m)={m['load']} "
        f"python={m['python']} date={m['date']}"
    )
    sys.stdout.flush()


def result_line(workload: str, metric: str, value: float, unit: str, peer: float) -> str:
    ratio = value / peer if peer else float("inf")
    return f"RESULT {workload} {metric}={_fmt(value)} {unit} peer={_fmt(peer)} ratio={ratio:.2f}"


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


# -- secrets and config -----------------------------------------------------------------
def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"intermodal-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- servers as subprocesses -------------------------------------------------------------
@dataclass
class Server:
    """A server subprocess on loopback; `stop()` ends it (SIGINT, then SIGKILL)."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    ready_path: str = "/healthz"
    """Answers 200 once the server takes traffic (the hub: `/readyz`, its applier up)."""

    def start(self, timeout: float = 60.0) -> Server:
        ready_path = self.ready_path
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_request("127.0.0.1", self.port, "GET", ready_path)
                if status == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready: {self.tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def http_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[int, bytes]:
    """One blocking HTTP/1.1 request (stdlib only, so helpers do not depend on httpx)."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def hub_server(
    work: Path, config: Path, port: int, env: dict[str, str], db: Path | None = None
) -> Server:
    """The hub as `intermodal serve` with one worker (the figures recorded before
    `hub.workers` existed; bench/scale.py measures more), unless INTERMODAL_WORKERS says."""
    db = db or work / "hub.db"
    env = {"INTERMODAL_WORKERS": os.environ.get("INTERMODAL_WORKERS", "1"), **env}
    return Server(
        "hub",
        [
            str(BIN / "intermodal"),
            "serve",
            "--config",
            str(config),
            "--db",
            f"sqlite:///{db}",
            "--port",
            str(port),
        ],
        port,
        env,
        work / "hub.log",
        ready_path="/readyz",
    )


# -- events and signed requests ------------------------------------------------------------
def milestone_event(index: int, shipments: int, run: str, base: datetime) -> dict[str, Any]:
    """Event `index` of a run: shipment `index % shipments`, milestones in order."""
    ship = index % shipments
    step = index // shipments
    at = base + timedelta(minutes=step, seconds=ship % 60)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "specversion": "1.0",
        "id": f"evt-{run}-{index}",
        "source": PARTNER,
        "type": "intermodal.shipment.milestone",
        "subject": f"SHP-{run}-{ship:06d}",
        "time": stamp,
        "datacontenttype": "application/json",
        "data": {
            "milestone": MILESTONES[step % len(MILESTONES)],
            "occurred_at": stamp,
            "location": {
                "city": "Rotterdam",
                "postal_code": f"30{ship % 97:02d} AA",
                "country": "NL",
            },
            "tracking_number": f"1Z{run.upper()}{ship:08d}",
        },
    }


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def webhook_request(path: str, key: bytes, message_id: str, body: bytes, timestamp: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"webhook-id: {message_id}\r\n"
        f"webhook-timestamp: {timestamp}\r\n"
        f"webhook-signature: {sign(key, message_id, timestamp, body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def signed_webhooks(
    path: str, secret: str, count: int, run: str, duplicates: float = 0.1, seed: int = 7
) -> list[bytes]:
    """`count` ready-to-send requests; a `duplicates` share are re-deliveries of earlier ones.

    A re-delivery is byte-identical to its original (same webhook-id, body, signature) and
    follows it within about a thousand requests, as a partner's retry would.
    """
    rng = random.Random(seed)
    key = webhook_key(secret)
    dups = int(count * duplicates)
    uniques = count - dups
    shipments = max(1, uniques // len(MILESTONES))
    base = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    now = int(time.time())
    originals = []
    for i in range(uniques):
        body = orjson.dumps(milestone_event(i, shipments, run, base))
        originals.append(webhook_request(path, key, f"msg-{run}-{i}", body, now))
    keyed: list[tuple[float, bytes]] = [(float(i), r) for i, r in enumerate(originals)]
    for _ in range(dups):
        j = rng.randrange(uniques)
        keyed.append((j + rng.uniform(0.5, 1000.5), originals[j]))
    keyed.sort(key=lambda item: item[0])
    return [r for _, r in keyed]


# -- the load generator -------------------------------------------------------------------
@dataclass
class LoadSpec:
    host: str
    port: int
    path: str
    secret: str
    run: str
    mode: str  # "closed" | "open"
    count: int  # requests prepared (the most that will be sent)
    connections: int = 64
    duration: float = 10.0  # closed: stop after this long; open: count / rate
    rate: float = 5000.0  # open loop only
    duplicates: float = 0.1
    warmup: int = 0  # requests sent before measuring (at most `warmup_seconds` long)
    warmup_seconds: float = 2.0
    grace: float = 10.0  # open loop: how long to wait for stragglers after the last send


@dataclass
class LoadResult:
    mode: str
    sent: int = 0
    completed: int = 0
    elapsed: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    unfinished: int = 0
    send_lag_ms_p99: float = 0.0
    errors: list[str] = field(default_factory=list)
    warmup_statuses: dict[int, int] = field(default_factory=dict)
    client_cpu: float = 0.0  # CPU seconds the generator itself used while measuring

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)


class _Conn(asyncio.Protocol):
    def __init__(self, on_response: Any, on_lost: Any) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.on_response = on_response
        self.on_lost = on_lost
        self.scheduled = 0.0
        self.busy = False
        self.unsolicited: list[int] = []
        """Statuses of answers to no request: a server refusing the connection itself
        (the hub's 429 past `hub.limits.max_connections_per_client`)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, scheduled: float) -> None:
        assert self.transport is not None
        self.scheduled = scheduled
        self.busy = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self.buf) < total:
                return
            status = int(head[9:12])
            del self.buf[:total]
            if not self.busy:  # not an answer: counted apart, never as a latency
                self.unsolicited.append(status)
                continue
            self.busy = False
            self.on_response(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.on_lost(self, exc)


async def _load(spec: LoadSpec, requests: list[bytes], warm: list[bytes]) -> LoadResult:
    """Drive the load on `spec.connections` keep-alive connections.

    A connection the server closes is replaced; a request lost with it counts as status 0.
    """
    loop = asyncio.get_running_loop()
    result = LoadResult(spec.mode)
    statuses: Counter[int] = Counter()
    statuses_warm: Counter[int] = Counter()
    latencies: list[float] = []
    lags: list[float] = []
    idle: deque[_Conn] = deque()  # FIFO, so every connection stays in use
    waiting: deque[tuple[bytes, float]] = deque()  # open loop: due, no idle connection
    pending_warm = list(warm)
    conns: list[_Conn] = []
    total = len(requests)
    state = {
        "next": 0,
        "inflight": 0,
        "stop_at": float("inf"),
        "measuring": False,
        "closing": False,
        "warm_until": 0.0,
    }
    finished = [loop.create_future()]
    tasks: set[asyncio.Task[None]] = set()
    clock = time.perf_counter

    def finish() -> None:
        if state["inflight"] == 0 and not finished[0].done():
            finished[0].set_result(None)

    def record(conn: _Conn, status: int, now: float) -> None:
        if state["measuring"]:
            statuses[status] += 1
            latencies.append((now - conn.scheduled) * 1000.0)
        else:
            statuses_warm[status] += 1

    def on_response(conn: _Conn, status: int) -> None:
        now = clock()
        state["inflight"] -= 1
        record(conn, status, now)
        feed(conn, now)

    def on_lost(conn: _Conn, exc: Exception | None) -> None:
        if state["closing"]:
            return
        with contextlib.suppress(ValueError):
            idle.remove(conn)
        if conn.busy:
            conn.busy = False
            state["inflight"] -= 1
            record(conn, 0, clock())
            result.errors.append(f"connection lost with a request in flight: {exc!r}")
        task = loop.create_task(connect(replace=True))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def connect(replace: bool = False) -> None:
        _, conn = await loop.create_connection(
            lambda: _Conn(on_response, on_lost), spec.host, spec.port
        )
        conns.append(conn)
        if replace:
            feed(conn, clock())

    def feed(conn: _Conn, now: float) -> None:
        if state["closing"] or conn.transport is None:
            return
        if not state["measuring"]:
            if pending_warm and now < state["warm_until"]:
                state["inflight"] += 1
                conn.send(pending_warm.pop(), now)
            else:
                idle.append(conn)
                finish()
            return
        if spec.mode == "closed":
            if state["next"] < total and now < state["stop_at"]:
                state["inflight"] += 1
                conn.send(requests[state["next"]], now)
                state["next"] += 1
            else:
                finish()
            return
        if waiting:  # open loop: the oldest due request goes out now, its clock already runs
            request, scheduled = waiting.popleft()
            state["inflight"] += 1
            conn.send(request, scheduled)
            return
        idle.append(conn)
        if state["next"] >= total:
            finish()

    for _ in range(spec.connections):
        await connect()

    # warm-up: requests through every connection for a moment, not measured
    state["warm_until"] = clock() + spec.warmup_seconds
    for conn in list(conns):
        feed(conn, clock())
    await finished[0]
    finished[0] = loop.create_future()
    result.warmup_statuses = dict(statuses_warm)
    state["measuring"] = True

    start = clock()
    cpu_start = time.process_time()
    if spec.mode == "closed":
        state["stop_at"] = start + spec.duration
        while idle:
            feed(idle.popleft(), start)
        await finished[0]
        result.elapsed = clock() - start
        result.sent = state["next"]
    else:
        interval = 1.0 / spec.rate
        while state["next"] < total:
            now = clock()
            due = min(total, int((now - start) / interval) + 1)
            while state["next"] < due:
                i = state["next"]
                scheduled = start + i * interval
                state["next"] += 1
                if idle:
                    state["inflight"] += 1
                    lags.append((clock() - scheduled) * 1000.0)
                    idle.popleft().send(requests[i], scheduled)
                else:
                    waiting.append((requests[i], scheduled))
            next_due = start + state["next"] * interval
            await asyncio.sleep(max(0.0, next_due - clock()))
        result.sent = total
        if not waiting:
            finish()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(finished[0]), timeout=spec.grace)
        end = clock()
        result.elapsed = end - start
        # whatever is still outstanding counts with a lower bound of its wait so far
        result.unfinished = state["inflight"] + len(waiting)
        for conn in conns:
            if conn.busy and conn.transport is not None:
                latencies.append((end - conn.scheduled) * 1000.0)
        for _, scheduled in waiting:
            latencies.append((end - scheduled) * 1000.0)
    state["closing"] = True
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    result.client_cpu = time.process_time() - cpu_start
    refused = Counter(status for conn in conns for status in conn.unsolicited)
    if refused:
        result.errors.insert(
            0,
            f"{sum(refused.values())} answers to no request (statuses {dict(refused)}): the"
            " server refused connections; the hub caps them per client address"
            " (hub.limits.max_connections_per_client)",
        )
    result.completed = sum(statuses.values())
    result.statuses = dict(statuses)
    result.latencies_ms = latencies
    result.send_lag_ms_p99 = percentile(lags, 99) if lags else 0.0
    return result


def _load_process(spec: LoadSpec, pipe: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    warm = signed_webhooks(spec.path, spec.secret, spec.warmup, f"{spec.run}w", 0.0, seed=1)
    requests = signed_webhooks(
        spec.path, spec.secret, spec.count, spec.run, spec.duplicates, seed=2
    )
    pipe.send("ready")
    pipe.recv()  # go
    result = asyncio.run(_load(spec, requests, warm))
    pipe.send(result)
    pipe.close()


def run_load(spec: LoadSpec, on_start: Any = None) -> LoadResult:
    """Run the load generator in its own process (requests are signed there, before the
    clock starts); `on_start()` is called just before the measured phase begins."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_load_process, args=(spec, child), daemon=True)
    proc.start()
    try:
        if parent.poll(300) and parent.recv() == "ready":
            if on_start is not None:
                on_start()
            parent.send("go")
        deadline = time.monotonic() + spec.duration + spec.grace + 120
        while not parent.poll(0.2):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("load generator failed or did not finish")
        result: LoadResult = parent.recv()
        return result
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()


def describe_load(name: str, r: LoadResult) -> str:
    lat = r.latencies_ms
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
    text = (
        f"  {name:<8} {r.mode:<6} sent={r.sent} done={r.completed} in {r.elapsed:.2f}s "
        f"-> {r.throughput:,.0f} req/s; latency p50={percentile(lat, 50):.2f} ms "
        f"p99={percentile(lat, 99):.2f} ms max={max(lat) if lat else float('nan'):.1f} ms; "
        f"status {{{codes}}}; generator CPU {r.client_cpu / max(r.elapsed, 1e-9):.2f} cores"
    )
    if r.mode == "open":
        text += f"; unfinished={r.unfinished}; generator send lag p99={r.send_lag_ms_p99:.2f} ms"
    if r.errors:
        text += f"; errors: {r.errors[:3]}"
    if r.ok < r.completed:
        text += f"\n  WARNING: {r.completed - r.ok} of {r.completed} answers were not 2xx"
    return text


# -- CPU accounting ------------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """A process and its live descendants (the hub's applier process, for one)."""
    tree = [pid]
    for member in tree:
        try:
            children = Path(f"/proc/{member}/task/{member}/children").read_text().split()
        except OSError:
            continue
        tree.extend(int(child) for child in children)
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, its threads and its live child processes so
    far (from /proc): the hub's applier runs in a child process."""
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[tuple[int, str], float]:
    """`cpu_seconds` of each process of the tree, by pid and name (`ps -o comm`: the hub
    names its workers, appliers and inbox writer)."""
    found: dict[tuple[int, str], float] = {}
    for member in process_tree(pid):
        read = process_cpu(member)
        if read is not None:
            found[(member, read[0])] = read[1]
    return found


def process_cpu(pid: int) -> tuple[str, float] | None:
    """One process's name (`ps -o comm`) and user + system CPU seconds so far, from one
    read of /proc/<pid>/stat; None once it is gone or not ours to read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return stat[stat.index("(") + 1 : stat.rindex(")")], seconds


def machine_cpu() -> float:
    """CPU seconds this machine has spent so far, every core and process together, the
    kernel's own work included (/proc/stat: all but idle and I/O wait). Over a run, against
    its wall time, it says whether the machine had cores left: a closed loop that leaves
    some idle is held back by a wait (a lock, a round trip, a commit), not by the CPU."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float | None:
    """CPU seconds (user + system) so far of every `postgres` process of this machine, its
    backends and the WAL writer and checkpointer that work for them; None where there is
    none (a server elsewhere). /proc shows other users' processes' times."""
    total, found = 0.0, False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        read = process_cpu(int(pid))
        if read is not None and read[0] == "postgres":
            total += read[1]
            found = True
    return total if found else None


def postgres_cpu_since(began: float | None) -> float | None:
    """PostgreSQL's CPU seconds since `began` (a `postgres_cpu()` reading); None where it
    cannot be seen."""
    now = postgres_cpu() if began is not None else None
    return None if began is None or now is None else now - began


# -- the naive peer --------------------------------------------------------------------------
def naive_app(db_path: str, secret: str, token: str) -> Any:
    """A plain Starlette service as one would write it first: verify, validate, one SQLite
    transaction (WAL, synchronous=FULL) per request, INSERT OR IGNORE for dedup.

    It uses the hub's own signature check and event validation, so the difference measured
    is how messages reach the disk, not how much checking is done.
    """
    import sqlite3

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from intermodal.canonical.events import EventError, parse_event, parse_events
    from intermodal.ingress.signatures import SignatureError, verify

    keys = (webhook_key(secret),)
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY, partner TEXT NOT NULL,"
        " message_id TEXT NOT NULL, body BLOB NOT NULL, received_at TEXT NOT NULL,"
        " UNIQUE (partner, message_id))"
    )
    lock = threading.Lock()

    def insert_one(partner: str, message_id: str, body: bytes) -> bool:
        with lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT OR IGNORE INTO inbox (partner, message_id, body, received_at)"
                    " VALUES (?, ?, ?, ?)",
                    (partner, message_id, body, datetime.now(UTC).isoformat()),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return cur.rowcount == 1

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
        new = await run_in_threadpool(
            insert_one, request.path_params["partner"], h["webhook-id"], body
        )
        return JSONResponse({"events": len(events), "duplicate": not new}, 202 if new else 200)

    async def batch(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, 401)
        value = orjson.loads(await request.body())

        def store_each() -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = []
            for index, item in enumerate(value):
                try:
                    event = parse_event(item, prefix=str(index))
                except EventError as exc:
                    results.append({"index": index, "status": "rejected", "error": str(exc)})
                    continue
                new = insert_one(PARTNER, event.id, orjson.dumps(item))
                results.append({"index": index, "status": "accepted" if new else "duplicate"})
            return results

        return JSONResponse({"results": await run_in_threadpool(store_each)}, 202)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/webhooks/{partner}", webhook, methods=["POST"]),
            Route("/v1/events", batch, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def naive_server(work: Path, port: int, secret: str, token: str = "") -> Server:
    return Server(
        "naive",
        [PYTHON, str(Path(__file__)), "serve-naive", str(port), str(work / "naive.db")],
        port,
        {"BENCH_SECRET": secret, "BENCH_TOKEN": token},
        work / "naive.log",
    )


def serve(app: Any, port: int) -> None:
    """Serve an ASGI app the way `intermodal serve` does (uvicorn, uvloop, httptools)."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "serve-naive":
        port, db = int(argv[1]), argv[2]
        serve(naive_app(db, os.environ["BENCH_SECRET"], os.environ.get("BENCH_TOKEN", "")), port)
        return
    # anything else (e.g. `make bench` calling every bench/*.py with --quick): nothing to do


if __name__ == "__main__":
    main(sys.argv[1:])
