"""One leader for the singletons: of several hubs on one database, only the holder of the
`leader` lease runs timers, pollers, sync, reconciliation and retention, and another takes
them over within the lease time when it stops or dies.

In-process hubs on both stores (retention made fast: it is the singleton whose every
pass can be attributed to a hub, by its store), then two real `intermodal serve`
processes on one database (either store): on PostgreSQL the leader is first paused
(SIGSTOP) past its lease and must step down when it wakes; then the leader is SIGKILLed.
Each failover time is printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import insert, select

import intermodal.hub as hub_module
from intermodal.config import Settings
from intermodal.engine.ids import iso, utcnow
from intermodal.hub import Hub
from intermodal.outbox import retention
from intermodal.store import open_store
from intermodal.store.leases import LEADER, Leases
from intermodal.store.tables import timers
from intermodal_sim.testing import free_port

LEASE = 2.0  # hub.lease_seconds, renewed every third of it: short, with room for a busy CI
HUB_BIN = Path(sys.executable).with_name("intermodal")


async def _next_passes(passes: list[int]) -> None:
    """Wait for the new leader's first retention pass (every 0.05 s once it leads; its
    first can wait for a thread while a parallel suite keeps two cores busy), then 0.5 s
    more, in which any other hub's pass would show too."""
    await _wait_for(lambda: bool(passes), timeout=LEASE + 1)
    await asyncio.sleep(0.5)


async def _wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` holds, polled every 10 ms; fails after `timeout`."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "condition not met in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


async def _die(hub: Hub) -> None:
    """What the rest of the cluster sees of a node that died: it stops renewing and its
    singletons stop, but its lease stays in the store until it expires."""
    assert hub._election is not None
    hub._election.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hub._election
    for task in hub._singletons:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    hub._singletons = []
    hub._leadership = None


async def test_one_hub_runs_the_singletons_and_another_takes_over(
    db_url: str, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "PRUNE_FIRST_SECONDS", 0.0)
    monkeypatch.setattr(hub_module, "PRUNE_EVERY_SECONDS", 0.05)
    passes: list[int] = []  # id() of the store of each retention pass
    prune = retention.prune_delivered

    def counted(store: Any, *args: Any) -> int:
        passes.append(id(store))
        return prune(store, *args)

    monkeypatch.setattr(retention, "prune_delivered", counted)
    settings = make_settings(
        {"hub": {"database": db_url, "lease_seconds": LEASE}, "delivery": {"keep_delivered": "30d"}}
    )
    hubs = [Hub.create(settings) for _ in range(3)]
    for hub in hubs:
        await hub.start(dispatch=False)
    first, second, third = hubs
    stopped: list[Hub] = []
    try:
        assert [h.leading for h in hubs] == [True, False, False]
        await asyncio.sleep(3 * LEASE)  # several renewals: nothing moves
        assert [h.leading for h in hubs] == [True, False, False]
        assert passes and set(passes) == {id(first.store)}, "only the leader prunes"
        assert [t.get_name() for t in first._singletons] == ["retention"]
        assert second._singletons == [] and third._singletons == []

        await first.stop()  # a clean stop releases the lease
        stopped.append(first)
        stopped_at = time.monotonic()
        await _wait_for(lambda: second.leading or third.leading, timeout=LEASE + 1)
        clean = time.monotonic() - stopped_at
        leader, follower = (second, third) if second.leading else (third, second)
        passes.clear()
        await _next_passes(passes)
        assert set(passes) == {id(leader.store)}
        assert not follower.leading

        await _die(leader)  # a crash: the lease runs out in the store
        died_at = time.monotonic()
        await _wait_for(lambda: follower.leading, timeout=LEASE + 1)
        crash = time.monotonic() - died_at
        passes.clear()
        await _next_passes(passes)
        assert set(passes) == {id(follower.store)}
        print(f"\nfailover ({settings.hub.database.split(':')[0]}, lease {LEASE}s): "
              f"clean stop {clean:.3f}s, crash {crash:.3f}s")  # fmt: skip
        assert crash <= LEASE + 0.5

        gauge = follower.metrics.registry.get_sample_value
        assert gauge("intermodal_leader") == 1
        assert gauge("intermodal_leader_changes_total", {"change": "gained"}) == 1
        assert first.metrics.registry.get_sample_value("intermodal_leader") == 0
        assert (
            first.metrics.registry.get_sample_value(
                "intermodal_leader_changes_total", {"change": "lost"}
            )
            == 1
        )
        lease = Leases(follower.store).current(LEADER)
        assert lease is not None and lease.token == 3  # three terms: one per acquisition
    finally:
        for hub in hubs:
            if hub not in stopped:
                await hub.stop()


async def test_a_lone_hub_leads_from_the_start(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings({"hub": {"database": sqlite_url}})
    assert settings.hub.lease_seconds == 10
    hub = Hub.create(settings)
    await hub.start(dispatch=False)
    try:
        assert hub.leading  # before start returned: the singletons run as they always did
    finally:
        await hub.stop()
    store = open_store(sqlite_url)
    try:
        assert Leases(store).current(LEADER) is None, "a clean stop releases the lease"
    finally:
        store.dispose()


def test_lease_seconds_is_validated(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(Exception, match="lease_seconds"):
        make_settings({"hub": {"lease_seconds": 0.1}})


# -- two `intermodal serve` processes, one SIGKILLed ----------------------------------------


@pytest.fixture
def serve_config(db_url: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hub": {"lease_seconds": 2, "metrics_public": True},  # the leader gauge
                "workflows": {"timer_poll_seconds": 0.1},
                "telemetry": {"metrics_cache_seconds": 60},
            }
        ),
        encoding="utf-8",
    )
    yield config, db_url


def _leader_gauge(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.TransportError:
        return None
    found = re.search(r"^intermodal_leader (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def _add_due_timer(url: str, timer_id: str) -> None:
    store = open_store(url, migrate=False)
    try:
        with store.write() as conn:
            conn.execute(
                insert(timers).values(
                    timer_id=timer_id,
                    subject="SHP-LEADER",
                    kind="test.leader",
                    due_at=iso(utcnow() - timedelta(seconds=1)),
                    payload=orjson.dumps({}).decode(),
                )
            )
    finally:
        store.dispose()


def _timer_status(url: str, timer_id: str) -> str:
    store = open_store(url, migrate=False)
    try:
        with store.read() as conn:
            return str(
                conn.execute(select(timers.c.status).where(timers.c.timer_id == timer_id)).scalar()
            )
    finally:
        store.dispose()


async def test_a_paused_or_killed_leaders_singletons_move_to_the_other_process(
    serve_config: tuple[Path, str], tmp_path: Path
) -> None:
    config, url = serve_config
    open_store(url).dispose()  # migrated once, before both start
    ports = [free_port(), free_port()]
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"hub-{n}.log" for n in range(2)]
    try:
        for port, log in zip(ports, logs, strict=True):
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [HUB_BIN, "serve", "--config", config, "--db", url, "--port", str(port)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            # one at a time, so the first to start is the leader
            await _wait_for(lambda p=port: _leader_gauge(p) is not None, timeout=60)
        assert [_leader_gauge(p) for p in ports] == [1, 0]
        _add_due_timer(url, "tmr-before")
        await _wait_for(lambda: _timer_status(url, "tmr-before") == "fired", timeout=5)

        leader, follower, token = 0, 1, 1
        if url.startswith("postgresql"):
            # Paused past the lease: the other takes over; woken, the old leader finds its
            # lease gone and stops its singletons. (Not on SQLite: a process paused while
            # it holds the file's one write lock stops every writer until it wakes.)
            os.killpg(procs[leader].pid, signal.SIGSTOP)  # the node: supervisor and workers
            await _wait_for(lambda: _leader_gauge(ports[follower]) == 1, timeout=10)
            os.killpg(procs[leader].pid, signal.SIGCONT)
            await _wait_for(lambda: _leader_gauge(ports[leader]) == 0, timeout=3)
            woken = logs[leader].read_text(errors="replace")
            assert "stopped leading (lease token 1): the lease ran out" in woken, woken[-2000:]
            leader, follower, token = 1, 0, 2

        os.killpg(procs[leader].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        procs[leader].wait()
        await _wait_for(lambda: _leader_gauge(ports[follower]) == 1, timeout=10)
        failover = time.monotonic() - killed_at
        _add_due_timer(url, "tmr-after")
        await _wait_for(lambda: _timer_status(url, "tmr-after") == "fired", timeout=5)
        print(f"\nfailover after SIGKILL ({url.split(':')[0]}, lease 2s, two serve "
              f"processes): {failover:.3f}s")  # fmt: skip
        assert failover <= 2 + 1.5  # the lease, plus scraping /metrics on a busy machine
        survivor = logs[follower].read_text(errors="replace")
        assert f"leads now (lease token {token + 1})" in survivor, survivor[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
