"""Node loss: several hub nodes on one PostgreSQL database, and one node's processes on a
SQLite file, while one of them is SIGKILLed again and again.

The workload, the partner-like sender and every check on the outcome are the crash-safety
test's (tests/engine/test_crash_safety.py): 20,000 signed webhooks for 500 shipments,
shuffled, 10% exact re-deliveries, sent round-robin to every node (a failed send goes to
the next node, as behind a load balancer), each command applied once by a deduplicating
receiver, each shipment's commands arriving in the order they were made.

- **Three nodes on PostgreSQL** (`intermodal serve`, one applier each, sharing the
  partitions): every few seconds one node is SIGKILLed and started again, five times.
  Meanwhile the leader gauge of every node is sampled: never two leaders at once.
- **One node on SQLite with four workers and two appliers**: five times a random process
  of the node (an ingest worker, the core worker or an applier) is SIGKILLed; the
  supervisor or the core worker starts it again.

Duplicate deliveries per kill are printed (run with `-s`); the seed is printed and
INTERMODAL_CRASH_SEED replays a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intermodal.engine.ids import parse_iso
from intermodal.serve import WRITER_NAME
from intermodal.store import open_store
from intermodal.store.leases import LEADER, Leases
from intermodal.store.tables import reconciliation_runs
from intermodal_sim.testing import Receiver, free_port, serve_in_thread
from tests.engine.test_crash_safety import (
    HUB_BIN,
    KILLS,
    HubProcess,
    build_workload,
    check_outcome,
    expected_states,
    hub_setup,
    kill_and_restart,
    kill_points,
    send_all,
    wait_drained,
)
from tests.test_serve import _descendants

pytestmark = pytest.mark.slow  # a parallel run gives it one worker: ONE_WORKER, conftest.py

RECONCILE_EVERY = 4.0


class LeaderSampler:
    """Reads every node's `intermodal_leader` gauge every quarter second; counts the
    samples in which two nodes said they lead."""

    def __init__(self, nodes: list[HubProcess]) -> None:
        self.nodes = nodes
        self.samples = 0
        self.overlaps: list[list[int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LeaderSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=1.0) as client:
            while not self._stop.wait(0.25):
                leading = [k for k, node in enumerate(self.nodes) if _leads(client, node)]
                self.samples += 1
                if len(leading) > 1:
                    self.overlaps.append(leading)


def _leads(client: httpx.Client, node: HubProcess) -> bool:
    try:
        text = client.get(f"{node.url}/metrics").text
    except httpx.TransportError:
        return False
    found = re.search(r"^intermodal_leader (\S+)$", text, re.MULTILINE)
    return found is not None and float(found.group(1)) == 1.0


def _run(
    db_url: str,
    tmp_path: Path,
    label: str,
    nodes_args: list[list[str]],
    kill: Any,
    extra_env: dict[str, str] | None = None,
) -> None:
    seed = int(os.environ.get("INTERMODAL_CRASH_SEED") or secrets.randbits(32))
    rng = random.Random(seed)
    print(f"\n[{label}] seed={seed}")
    workload = build_workload(rng)
    expected = expected_states(workload)
    kill_at = kill_points(rng)
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as receiver_url:
        # a leader's job with a period: run once per interval whoever leads
        config, env, keys = hub_setup(
            tmp_path, receiver_url, reconcile={"interval_seconds": RECONCILE_EVERY}
        )
        env.update(extra_env or {})
        nodes = [
            HubProcess(config, db_url, free_port(), env, tmp_path / f"node-{k}.log", args)
            for k, args in enumerate(nodes_args)
        ]
        store = open_store(db_url)
        try:
            for node in nodes:
                node.spawn()

            async def ready() -> None:
                await asyncio.gather(*(node.wait_ready() for node in nodes))

            asyncio.run(ready())
            began = time.monotonic()
            with LeaderSampler(nodes) as sampler:
                sent, downtimes = asyncio.run(
                    send_all(nodes, workload, keys, kill_at, lambda i: kill(nodes, i, rng))
                )
                sending = time.monotonic() - began
                wait_drained(store, nodes, timeout=180)
            drained = time.monotonic() - began
            for node in nodes:
                assert node.stop() is not None, f"a node did not stop on SIGTERM:\n{node.tail()}"
            print(f"[{label}] answers {dict(sent.statuses)}, cut off {dict(sent.transport_errors)}")
            report = check_outcome(store, workload, expected, sent, receiver)
            leader = Leases(store).current(LEADER)
            with store.read() as conn:
                runs = [
                    parse_iso(s).timestamp()
                    for s in conn.execute(
                        select(reconciliation_runs.c.started_at).order_by(
                            reconciliation_runs.c.started_at
                        )
                    ).scalars()
                ]
            verify = subprocess.run(
                [HUB_BIN, "audit", "verify", "--db", db_url],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            for node in nodes:
                node.stop(timeout=10)
            store.dispose()
    with receiver.lock:
        duplicates = receiver.duplicates
    print(f"[{label}] kills at {kill_at}; downtime " + ", ".join(f"{d:.2f}s" for d in downtimes))
    print(f"[{label}] sent in {sending:.1f}s, drained at {drained:.1f}s")
    print(f"[{label}] duplicate deliveries {duplicates} ({duplicates / KILLS:.1f} per kill)")
    print(f"[{label}] leader samples {sampler.samples}, two leaders at once {sampler.overlaps}")
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(runs)]
    print(f"[{label}] reconciliation runs {len(runs)}, seconds apart {gaps}")
    for line in report:
        print(f"[{label}] {line}")
    assert verify.returncode == 0, f"audit verify failed: {verify.stdout}{verify.stderr}"
    assert len(downtimes) == KILLS
    assert not sampler.overlaps, f"two nodes led at once: {sampler.overlaps}"
    # the leader's periodic job: once per period across kills and leadership changes
    assert len(runs) >= drained // RECONCILE_EVERY // 2, runs
    assert all(gap >= RECONCILE_EVERY * 0.99 for gap in gaps), gaps
    assert leader is None  # every node stopped and let it go


def test_three_nodes_on_postgresql_lose_one_node_at_a_time(pg_url: str, tmp_path: Path) -> None:
    async def kill(nodes: list[HubProcess], number: int, _rng: random.Random) -> None:
        await kill_and_restart(nodes[number % len(nodes)])
        await asyncio.sleep(1.0)  # every few seconds

    _run(pg_url, tmp_path, "three nodes, postgresql", [["--workers", "1"]] * 3, kill)


def _connections(pid: int, port: int) -> list[int]:
    """The established TCP connections to local `port` that the process `pid` holds (its
    descriptors' socket inodes, found in /proc/net/tcp and tcp6): each one's bytes
    received and not yet read, a request waiting for a process that is stopped."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    unread = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    unread.append(int(fields[4].split(":")[1], 16))  # 01: ESTABLISHED
    return unread


def test_one_node_on_sqlite_loses_worker_and_applier_processes(
    sqlite_url: str, tmp_path: Path
) -> None:
    killed: list[str] = []

    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    async def kill(nodes: list[HubProcess], number: int, rng: random.Random) -> None:
        node = nodes[0]
        assert node.proc is not None
        processes = [
            pid
            for pid in _descendants(node.proc.pid)
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]

        def role(pid: int) -> str:
            if parent(pid) != node.proc.pid:
                return "applier"
            writer = Path(f"/proc/{pid}/comm").read_bytes().strip() == WRITER_NAME
            return "inbox writer" if writer else "worker"

        if number == 0:  # one kill at least cuts the requests in flight of an HTTP worker
            processes = [pid for pid in processes if role(pid) == "worker"]
            # The one holding the most of the sender's connections: they are made at the
            # start and kept, and a worker that was not listening yet then holds none.
            held = {pid: len(_connections(pid, node.port)) for pid in processes}
            processes = [pid for pid in processes if held[pid] == max(held.values())]
        victim = rng.choice(processes)
        killed.append(role(victim))
        if number == 0:
            # Killed with requests in flight: a sender starved of CPU (a busy machine)
            # may have none on the victim at any given instant. Stopped first, the worker
            # reads nothing more, and the next requests on its connections wait in them.
            os.kill(victim, signal.SIGSTOP)
            deadline = time.monotonic() + 3.0
            while not any(_connections(victim, node.port)) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        await asyncio.sleep(1.5)  # the supervisor (or the core worker) starts it again
        await node.wait_ready()

    _run(
        sqlite_url,
        tmp_path,
        "one node, sqlite, 4 workers",
        [["--workers", "4"]],
        kill,
        {"INTERMODAL_APPLIERS": "2"},
    )
    print(f"[sqlite workers] killed {killed}")
