"""`intermodal serve --workers N` (intermodal/serve.py): N ingest processes on one port.

Real `intermodal serve` subprocesses on a real store (SQLite file and PostgreSQL): both
workers take signed webhooks on the one port, every message is applied exactly once, a
worker SIGKILLed mid-load is started again without losing an acknowledged message, and
SIGTERM stops every process within seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy import func, select

from intermodal.engine.applier_process import APPLIER_NAME
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.serve import WORKER_NAME, WRITER_NAME
from intermodal.store import open_store
from intermodal.store.tables import events, inbox
from intermodal_sim.testing import free_port, wait_until
from tests.conftest import new_secret

HUB_BIN = str(Path(sys.executable).with_name("intermodal"))


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    key: bytes
    metrics_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The worker processes: the supervisor's children but the inbox writer."""
        return [pid for pid in _processes(self.proc.pid) if not _is_writer(pid)]

    def writer(self) -> int | None:
        """The inbox writer (SQLite): the supervisor's child named so."""
        found = [pid for pid in _processes(self.proc.pid) if _is_writer(pid)]
        return found[0] if found else None

    def core(self) -> int:
        """The core worker: the one whose child is the applier."""
        (core,) = [pid for pid in self.workers() if _processes(pid)]
        return core

    def accepted_by_worker(self) -> dict[int, float]:
        """Accepted webhooks per worker pid, read from each worker's metrics file."""
        counts: dict[int, float] = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            pid = int(path.stem.split("_")[1])
            for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
                sample, values = json.loads(key)[1], json.loads(key)[3]
                if sample == "intermodal_ingress_messages_total" and "accepted" in values:
                    counts[pid] = counts.get(pid, 0) + value
        return counts

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def _processes(pid: int) -> list[int]:
    """A process's live children, less multiprocessing's resource tracker."""
    return [c for c in _children(pid) if b"resource_tracker" not in _cmdline(c) and _alive(c)]


def _is_writer(pid: int) -> bool:
    return _name(pid) == WRITER_NAME


def _name(pid: int) -> bytes:
    """What `ps -o comm` shows for the process; b"" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_bytes().strip()
    except OSError:
        return b""


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def serve(tmp_path: Path, db_url: str, workers: int = 2, **more: object) -> Served:
    """`launch`, then wait until every worker and the applier are ready."""
    served = launch(tmp_path, db_url, workers, **more)
    proc = served.proc

    def ready() -> bool:
        assert proc.poll() is None, served.tail()
        try:  # every worker ready: the core worker's /readyz waits for the applier
            answers = {
                httpx.get(f"{served.url}/readyz", headers={"connection": "close"}).status_code
                for _ in range(8)
            }
        except httpx.TransportError:
            return False
        workers_up = served.workers()
        has_applier = [pid for pid in workers_up if _processes(pid)]
        return answers == {200} and len(workers_up) == workers and len(has_applier) == 1

    try:
        wait_until(ready, 60)
    except BaseException:
        _stop(served)
        raise
    return served


def launch(tmp_path: Path, db_url: str, workers: int = 2, **more: object) -> Served:
    """`intermodal serve --workers N` in a session of its own, logging to serve.log."""
    secret = new_secret()
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hub": {"metrics_public": True},  # scraped below, like Prometheus would
                "partners": {"acme": {"webhook_secrets": ["env:ACME_S"]}},
                **more,
            }
        ),
        encoding="utf-8",
    )
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    log = tmp_path / "serve.log"
    command = [HUB_BIN, "serve", "--config", str(config), "--db", db_url, "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env={
                **os.environ,
                "ACME_S": secret,
                "TOWER_PW": "a long enough password",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Served(proc, port, webhook_key(Secret(secret)), metrics_dir, log)


def _stop(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.terminate()
        try:
            served.proc.wait(30)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait()


def _body(i: int) -> bytes:
    at = f"2026-11-23T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{i}",
            "source": "acme",
            "type": "intermodal.shipment.milestone",
            "subject": f"SHP-{i % 50}",
            "time": at,
            "data": {"milestone": "picked_up", "occurred_at": at},
        }
    )


@dataclass
class Sent:
    accepted: Counter[str] = field(default_factory=Counter)  # webhook-id -> 202s
    succeeded: set[str] = field(default_factory=set)  # any 2xx (a 200: already stored)
    retried: int = 0


async def send(
    served: Served, count: int, in_flight: int = 16, fresh: bool = True, first: int = 0
) -> Sent:
    """Signed webhooks like a partner: a connection error or a 5xx is retried until a 2xx.
    `fresh`: a new connection per request, so the kernel spreads them over the workers."""
    sent = Sent()
    pending = iter(range(first, first + count))

    async def deliver(client: httpx.AsyncClient, i: int) -> None:
        message_id, body = f"m-{i}", _body(i)
        while True:
            ts = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(served.key, message_id, ts, body),
            }
            if fresh:
                headers["connection"] = "close"
            try:
                response = await client.post(
                    f"{served.url}/v1/webhooks/acme", content=body, headers=headers
                )
            except httpx.TransportError:
                pass
            else:
                if response.status_code == 202:
                    sent.accepted[message_id] += 1
                if response.status_code < 300:
                    sent.succeeded.add(message_id)
                    return
                assert response.status_code >= 500, response.text
            sent.retried += 1
            await asyncio.sleep(0.05)

    async def sender() -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            for i in pending:
                await deliver(client, i)

    await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(in_flight))), 240)
    return sent


def assert_applied_once(db_url: str, sent: Sent, count: int) -> None:
    assert max(sent.accepted.values()) == 1  # no message acknowledged twice
    store = open_store(db_url, migrate=False)
    try:

        def drained() -> bool:
            with store.read() as conn:
                pending = conn.scalar(
                    select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                )
            return pending == 0

        wait_until(drained, 60)
        with store.read() as conn:
            stored = conn.execute(select(inbox.c.message_id, inbox.c.status)).all()
            applied = conn.execute(select(events.c.event_id)).scalars().all()
        assert sorted(m for m, _ in stored) == sorted(f"m-{i}" for i in range(count))
        assert {s for _, s in stored} == {"applied"}
        assert sorted(applied) == sorted(f"e-{i}" for i in range(count))  # once each
    finally:
        store.dispose()


async def send_and_kill(served: Served, victim: int) -> Sent:
    """1,500 webhooks like a partner, `victim` SIGKILLed once 300 are accepted."""
    sending = asyncio.create_task(send(served, 1500, fresh=False))
    await asyncio.to_thread(
        wait_until, lambda: sum(served.accepted_by_worker().values()) >= 300, 60
    )
    os.kill(victim, signal.SIGKILL)
    return await sending


def test_workers_share_one_port_and_apply_every_message_once(db_url: str, tmp_path: Path) -> None:
    served = serve(tmp_path, db_url)
    try:
        sent = asyncio.run(send(served, 400))
        assert len(sent.accepted) == 400
        assert_applied_once(db_url, sent, 400)
        by_worker = served.accepted_by_worker()
        assert set(by_worker) == set(served.workers()), by_worker  # both answered
        assert all(n > 0 for n in by_worker.values()) and sum(by_worker.values()) == 400
        # `ps` and `top` tell the processes apart: each worker by its index, the appliers.
        workers = sorted(_name(pid) for pid in served.workers())
        assert workers == [WORKER_NAME + b"0", WORKER_NAME + b"1"], workers
        assert [_name(pid) for pid in _processes(served.core())] == [APPLIER_NAME]
        # /metrics from whichever worker answers sums every worker's counters.
        for _ in range(4):
            text = httpx.get(f"{served.url}/metrics", headers={"connection": "close"}).text
            assert (
                'intermodal_ingress_messages_total{channel="webhook",partner="acme",'
                'result="accepted"} 400.0' in text
            )
            assert 'intermodal_events_applied_total{outcome="applied",partner="acme"} 400.0' in (
                text
            )
            for stage in ("ingest", "apply"):  # the inbox writer's, or each worker's; the applier's
                count = re.search(
                    rf'^intermodal_store_write_seconds_count{{stage="{stage}"}} (\S+)$', text, re.M
                )
                assert count is not None and 1 <= float(count.group(1)) <= 400, stage
    finally:
        _stop(served)


@pytest.mark.parametrize("victim", ["core", "ingest"])
def test_a_worker_killed_mid_load_is_restarted_and_nothing_acknowledged_is_lost(
    db_url: str, tmp_path: Path, victim: str
) -> None:
    served = serve(tmp_path, db_url)
    try:
        core = served.core()
        (ingest,) = [pid for pid in served.workers() if pid != core]
        target = core if victim == "core" else ingest

        sent = asyncio.run(send_and_kill(served, target))
        # A request stored just before the kill, its answer lost, is answered 200 on retry.
        assert len(sent.succeeded) == 1500
        wait_until(lambda: len(served.workers()) == 2 and target not in served.workers(), 30)
        assert_applied_once(db_url, sent, 1500)
        print(
            f"\nkilled the {victim} worker: {sent.retried} retries, {1500 - len(sent.accepted)}"
            " answered 200 (stored before the kill)"
        )
        assert served.proc.poll() is None
        index = 0 if victim == "core" else 1
        assert (
            f'"worker {index} exited with code -9; starting a new one in 0.5 s",'
            f' "level": "error", "logger": "intermodal.serve", "worker_pid": {target}'
        ) in served.log.read_text()

        def restart_counted() -> bool:
            text = httpx.get(f"{served.url}/metrics", headers={"connection": "close"}).text
            return "intermodal_worker_restarts 1.0" in text

        wait_until(restart_counted, 30)  # once the new worker has started
    finally:
        _stop(served)


def test_the_inbox_writer_commits_for_every_worker_and_its_loss_loses_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    """On SQLite one process commits every worker's messages; killed mid-load, the
    workers commit themselves until the supervisor has started a new one."""
    served = serve(tmp_path, sqlite_url)
    try:
        writer = served.writer()
        assert writer is not None and writer not in served.workers()
        assert not _processes(writer)  # no children of its own

        sent = asyncio.run(send_and_kill(served, writer))
        assert len(sent.succeeded) == 1500
        assert_applied_once(sqlite_url, sent, 1500)
        wait_until(lambda: served.writer() not in (None, writer), 30)
        assert (
            '"the inbox writer exited with code -9; starting a new one in 0.5 s"'
            in served.log.read_text()
        )
        after = asyncio.run(send(served, 50, first=1500))  # through the new writer
        assert len(after.accepted) == 50
    finally:
        _stop(served)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT to the group", "SIGKILL"])
def test_every_process_stops_with_the_supervisor(sqlite_url: str, tmp_path: Path, how: str) -> None:
    served = serve(tmp_path, sqlite_url)
    try:
        everyone = _descendants(served.proc.pid)
        assert len(served.workers()) == 2 and _processes(served.core())  # and the applier
        began = time.monotonic()
        if how == "SIGTERM":
            served.proc.terminate()
        elif how == "SIGKILL":
            served.proc.kill()
        else:
            os.killpg(served.proc.pid, signal.SIGINT)
        code = served.proc.wait(timeout=30)
        assert code == {"SIGTERM": -15, "SIGINT to the group": 0, "SIGKILL": -9}[how]
        wait_until(lambda: not any(_alive(p) for p in everyone), 10)
        took = time.monotonic() - began
        print(f"\n{how}: every process gone in {took:.2f} s")
        assert took < 5
        if how != "SIGKILL":
            assert "Traceback" not in served.tail(), served.tail()
    finally:
        _stop(served)


def test_a_tower_session_holds_whichever_worker_answers(sqlite_url: str, tmp_path: Path) -> None:
    """Sessions live in the store, so a login made by one worker is a session for every
    other one (and survives a restart)."""
    tower = {"users": {"ops": {"role": "operator", "password": "env:TOWER_PW"}}}
    served = serve(tmp_path, sqlite_url, tower=tower)
    try:
        fresh = {"connection": "close"}  # a new connection each time: any worker answers
        with httpx.Client(base_url=served.url, follow_redirects=False, headers=fresh) as client:
            page = client.get("/tower/login").text
            marker = 'name="csrf" value="'
            csrf = page[page.index(marker) + len(marker) :].split('"', 1)[0]
            answer = client.post(
                "/tower/login",
                data={"username": "ops", "password": "a long enough password", "csrf": csrf},
            )
            assert answer.status_code == 303, answer.text[:300]
            assert {client.get("/tower/").status_code for _ in range(12)} == {200}
    finally:
        _stop(served)


@pytest.mark.parametrize("workers", [2, 1])
def test_ctrl_c_while_the_processes_start_stops_them_quietly(
    sqlite_url: str, tmp_path: Path, workers: int
) -> None:
    """Ctrl-C reaches the whole process group, children still importing the hub included:
    each starts deaf to SIGINT (blocked across its start, then ignored), so none dies in
    a KeyboardInterrupt traceback and the hub stops them all. Two workers: the workers
    and the inbox writer are starting; one: the applier, the one process's child."""
    served = launch(tmp_path, sqlite_url, workers)
    proc = served.proc
    try:
        children = 3 if workers == 2 else 1  # workers and the inbox writer, or the applier

        def spawned() -> int:  # not a helper a library runs while the hub imports (ldconfig)
            return sum(b"spawn_main" in _cmdline(pid) for pid in _processes(proc.pid))

        wait_until(lambda: spawned() >= children, 60, interval=0.005)
        time.sleep(0.2)  # spawned, and importing the hub
        everyone = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        # One worker: a Ctrl-C before uvicorn runs (the applier starts as the application
        # is made) aborts the start, as click does: status 130, "Aborted!".
        assert proc.wait(timeout=30) in ((0,) if workers == 2 else (0, 130))
        wait_until(lambda: not any(_alive(p) for p in everyone), 10)
        text = served.log.read_text(errors="replace")
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
