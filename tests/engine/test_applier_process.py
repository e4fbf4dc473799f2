"""The applier in a process of its own (`hub.applier: process`, what `intermodal serve`
runs): it applies what the hub's process stores, reports to the hub's metrics, wakes the
dispatcher, holds the store's one-applier lock, and never outlives the hub."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from intermodal.config import Settings
from intermodal.engine.applier_process import ApplierProcess
from intermodal.engine.partitions import PartitionOwner
from intermodal.hub import Hub
from intermodal.store import open_store
from intermodal_sim.testing import Receiver, free_port, serve_in_thread, wait_until
from tests.conftest import new_secret
from tests.engine.test_engine import message, milestone, settings_for

HUB_BIN = str(Path(sys.executable).with_name("intermodal"))


def _state(hub: Hub, key: str) -> str | None:
    from intermodal.engine import reads

    found = reads.shipment(hub.store, key)
    return None if found is None else str(found["state"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def test_applies_in_a_child_counts_in_the_hub_and_wakes_the_dispatcher(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as url:
        settings = settings_for(make_settings, url=f"{url}/hooks")
        hub = Hub.create(settings, open_store(db_url), applier="process")
        assert isinstance(hub.applier, ApplierProcess)
        await hub.start()
        try:
            assert hub.applier.pid not in (None, os.getpid())
            messages = [
                message("acme", f"m-{i}", milestone(f"e-{i}", f"SHP-{i % 5}", "picked_up", at))
                for i, at in enumerate(f"2026-11-23T10:{m:02d}:00Z" for m in range(20))
            ]
            receipts = await hub.committer.submit(messages)
            assert not any(r.duplicate for r in receipts)
            await asyncio.to_thread(wait_until, lambda: hub.applier.totals.messages == 20, 30)
            assert all(_state(hub, f"SHP-{k}") == "picked_up" for k in range(5))
            assert hub.metrics.events.labels("acme", "applied")._value.get() == 20
            assert hub.alive()["applier"]
            # The batch's commands reached the dispatcher (in this process) and the portal.
            await asyncio.to_thread(wait_until, lambda: len(receiver.applied) >= 5, 30)
        finally:
            child = hub.applier.pid
            await hub.stop()
        assert child is not None and not _alive(child)


async def test_an_applier_waits_for_the_partitions_another_applier_holds(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_for(make_settings)
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    earlier = PartitionOwner(store, settings.hub.partitions, ttl_seconds=60)
    assert earlier.step() and earlier.holds_all  # an earlier applier, still alive
    hub = Hub.create(settings, store, applier="process")
    await hub.start(dispatch=False)
    try:
        event = milestone("e-1", "SHP-1", "picked_up", "2026-11-23T10:00:00Z")
        await hub.committer.submit([message("acme", "m-1", event)])
        await asyncio.sleep(1.5)
        assert _state(hub, "SHP-1") is None  # nothing applied beside the other applier
        await asyncio.to_thread(earlier.stop)  # the earlier applier lets its partitions go
        await asyncio.to_thread(wait_until, lambda: _state(hub, "SHP-1") == "picked_up", 30)
    finally:
        await hub.stop()


async def test_the_hub_restarts_an_applier_that_died_alone(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_for(make_settings)
    hub = Hub.create(settings, open_store(f"sqlite:///{tmp_path}/hub.db"), applier="process")
    assert isinstance(hub.applier, ApplierProcess)
    await hub.start(dispatch=False)
    try:
        assert await asyncio.to_thread(hub.applier.wait_ready, 30)
        first = hub.applier.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)  # the OOM killer, say
        await asyncio.to_thread(wait_until, lambda: not hub.alive()["applier"], 10)
        event = milestone("e-1", "SHP-1", "picked_up", "2026-11-23T10:00:00Z")
        await hub.committer.submit([message("acme", "m-1", event)])  # arrives meanwhile
        await asyncio.to_thread(wait_until, lambda: _state(hub, "SHP-1") == "picked_up", 30)
        assert hub.applier.restarts == 1 and hub.applier.pid not in (None, first)
        assert b"intermodal_applier_restarts_total 1.0" in hub.metrics.render()
        assert hub.alive()["applier"]
    finally:
        child = hub.applier.pid
        await hub.stop()
    assert child is not None and not _alive(child)


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump({"partners": {"acme": {"webhook_secrets": ["env:ACME_S"]}}}),
        encoding="utf-8",
    )
    port = free_port()
    database = f"sqlite:///{tmp_path}/hub.db"
    proc = subprocess.Popen(
        [HUB_BIN, "serve", "--config", str(config), "--db", database, "--port", str(port)],
        env={**os.environ, "ACME_S": new_secret()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready)
    return proc, port


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT to the group"])
def test_the_applier_never_outlives_the_hub(tmp_path: Path, how: str) -> None:
    proc, _ = _serve(tmp_path)
    try:
        children = _children(proc.pid)
        assert children, "intermodal serve starts an applier process"
        if how == "SIGKILL":
            proc.kill()
        elif how == "SIGTERM":
            proc.terminate()
        else:  # Ctrl-C in a terminal: the whole foreground group gets SIGINT
            os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
        # uvicorn shuts down cleanly, then re-raises the signal it caught.
        assert code == {"SIGKILL": -9, "SIGTERM": -15, "SIGINT to the group": 0}[how]
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(c) for c in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_commits_of_another_process_wake_the_applier_at_once(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """`serve --workers N`: an ingest worker's commit wakes the core worker's applier
    through its datagram socket, well inside the half-second look the applier falls back
    on (measured here: run with -s to see the figures)."""
    settings = settings_for(make_settings)
    address = str(tmp_path / "applier.sock")
    core = Hub.create(settings, open_store(db_url), applier="process", wake_address=address)
    ingest = Hub.create(settings, open_store(db_url), applier="elsewhere", wake_address=address)
    assert isinstance(core.applier, ApplierProcess) and ingest.ingest_only
    await core.start(dispatch=False)
    await ingest.start()
    try:
        assert await asyncio.to_thread(core.applier.wait_ready, 30)
        latencies = []
        for i in range(20):
            event = milestone(f"e-{i}", f"SHP-{i}", "picked_up", "2026-11-23T10:00:00Z")
            began = time.monotonic()
            await ingest.committer.submit([message("acme", f"m-{i}", event)])
            await asyncio.to_thread(
                wait_until, lambda i=i: _state(ingest, f"SHP-{i}") == "picked_up", 10, 0.002
            )
            latencies.append(time.monotonic() - began)
            await asyncio.sleep(0.05)
        latencies.sort()
        median, worst = latencies[len(latencies) // 2], latencies[-1]
        print(
            f"\ncommit in another process -> applied: median {median * 1000:.1f} ms,"
            f" worst {worst * 1000:.1f} ms"
        )
        assert median < 0.2, latencies  # the fallback look alone would give ~250 ms
        assert ingest.alive() == {"committer": True, "applier": True}  # no dispatcher here
    finally:
        await ingest.stop()
        await core.stop()


async def test_a_committer_kept_waiting_by_another_process_commits_all_that_arrived(
    tmp_path: Path,
) -> None:
    """`serve --workers N` on SQLite: N group committers take turns on one writer lock.
    One that waited for its turn gathers its group after the wait, so everything that
    arrived meanwhile shares one commit (one fsync), not only what was there before."""
    from intermodal.engine.inbox import GroupCommitter

    store = open_store(f"sqlite:///{tmp_path}/hub.db")
    committer = GroupCommitter(store)
    committer.start()
    other = os.open(tmp_path / "hub.db-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other, fcntl.LOCK_EX)  # another worker's commit, in progress
    try:
        event = milestone("e-0", "SHP-0", "picked_up", "2026-11-23T10:00:00Z")
        first = asyncio.ensure_future(committer.submit([message("acme", "m-0", event)]))
        await asyncio.sleep(0.2)  # the committer has taken m-0 and waits for the lock
        later = [
            asyncio.ensure_future(committer.submit([message("acme", f"m-{i}", event)]))
            for i in range(1, 10)
        ]
        await asyncio.sleep(0.2)
        assert committer.batches == 0
        fcntl.flock(other, fcntl.LOCK_UN)  # the other worker's commit is done
        await asyncio.gather(first, *later)
        assert (committer.batches, committer.rows) == (1, 10)
    finally:
        os.close(other)
        committer.stop()
        store.dispose()
