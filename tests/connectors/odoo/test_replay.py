"""Done-when: the same 1,000 events applied three times, and once with the hub killed
between the Odoo call and its acknowledgement, leave Odoo with one application.

The hub runs for real: carrier events over HTTP, applier, outbox, dispatcher, Odoo sink,
the Odoo test server over loopback. The kill is a SIGKILL of an `intermodal serve` process
while Odoo has committed notes (message_post) but not yet answered (the sim's per-record
latency is spent after the commit).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.connectors.odoo.sink import OdooSink
from intermodal.outbox.sinks import ClaimedCommand
from intermodal.security.secrets import Secret
from intermodal.store import open_store
from intermodal.store.tables import outbox
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.testing import free_port, running_hub
from intermodal_sim.testing.odoo import (
    CARRIER_TOKEN,
    hub_config,
    milestone_events,
    seed_orders,
    settings_from,
    wait_delivered,
)

KEYS = [f"SHP-{i:04d}" for i in range(200)]
EVENTS = milestone_events(KEYS)  # 5 milestones x 200 shipments


def odoo_state(sim: RunningSim) -> dict[str, Any]:
    """What the hub wrote into Odoo: notes per marker, activities, delivery states."""

    async def read() -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            client = OdooClient(Connection(sim.url, sim.db, Secret(sim.api_key)), http)
            notes = await client.call(
                "mail.message",
                "search_read",
                domain=[["model", "=", "sale.order"], ["body", "ilike", "intermodal:"]],
                fields=["res_id", "body"],
            )
            pickings = await client.call(
                "stock.picking", "search_read", domain=[], fields=["state", "sale_id"]
            )
            activities = await client.call("mail.activity", "search_count", domain=[])
            orders = await client.call("sale.order", "search_count", domain=[])
        markers = Counter(n["body"].rsplit("intermodal:", 1)[1] for n in notes)
        return {
            "notes": len(notes),
            "markers": markers,
            "bodies": sorted((n["res_id"], n["body"]) for n in notes),
            "pickings": sorted((p["sale_id"][0], p["state"]) for p in pickings),
            "activities": activities,
            "orders": orders,
        }

    return asyncio.run(read())


def post_events(url: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        response = http.post(
            "/v1/events", json=EVENTS, headers={"authorization": f"Bearer {CARRIER_TOKEN}"}
        )
        response.raise_for_status()


def assert_one_application(state: dict[str, Any]) -> None:
    assert state["notes"] == len(EVENTS)
    assert set(state["markers"].values()) == {1}  # every command's note exactly once
    assert [s for _, s in state["pickings"]] == ["done"] * len(KEYS)
    assert state["activities"] == 0
    assert state["orders"] == len(KEYS) + 2  # ours plus the two demo quotations


@pytest.mark.slow
def test_three_applications_end_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim() as sim:
        monkeypatch.setenv("TEST_ODOO_KEY", sim.api_key)
        # Every milestone noted, so that each note is seen to be written exactly once.
        path = hub_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'hub.db'}",
            sim.url,
            sim.db,
            "TEST_ODOO_KEY",
            note_milestones=None,
        )
        settings = settings_from(path)
        asyncio.run(seed_orders(settings.endpoints["odoo"], KEYS))
        with running_hub(settings) as url:
            post_events(url)  # 1st application
            store = open_store(settings.hub.database)
            wait_delivered(store, len(EVENTS))
            first = odoo_state(sim)
            assert_one_application(first)
            sim.server.reset_counts()
            post_events(url)  # 2nd: the hub itself recognises every event
            time.sleep(1.0)
            assert sim.server.call_counts()["total"] == 0
            with store.read() as conn:
                rows = conn.execute(select(outbox).order_by(outbox.c.seq)).all()
            store.dispose()

        # 3rd: every command reaches Odoo again, as after a crash or a bulk dead-letter
        # replay (same command ids; the dispatcher marks them maybe-sent).
        async def replay() -> list[Any]:
            async with httpx.AsyncClient() as http:
                sink = OdooSink(settings.endpoints["odoo"], http)
                return await sink.write([replay_of(r) for r in rows])

        results = asyncio.run(replay())
        assert all(r.ok for r in results)
        assert odoo_state(sim) == first


def replay_of(row: Any) -> ClaimedCommand:
    c = ClaimedCommand.from_row(row)
    return ClaimedCommand(c.seq, c.command_id, c.endpoint, c.kind, c.subject, c.payload,
                   c.correlation_id, c.attempts, maybe_sent=True)  # fmt: skip


def _serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    executable = Path(sys.executable).parent / "intermodal"
    handle = log.open("ab")
    process = subprocess.Popen(
        [str(executable), "serve", "--config", str(config), "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"hub did not start: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_hub_killed_between_odoo_call_and_acknowledgement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_sim() as sim:
        monkeypatch.setenv("TEST_ODOO_KEY", sim.api_key)
        database = f"sqlite:///{tmp_path / 'hub.db'}"
        # Every milestone noted, so that each note is seen to be written exactly once.
        path = hub_config(
            tmp_path, database, sim.url, sim.db, "TEST_ODOO_KEY", note_milestones=None
        )
        settings = settings_from(path)
        asyncio.run(seed_orders(settings.endpoints["odoo"], KEYS))
        sim.server.reset_counts()
        # Odoo commits each note (message_post), then takes 20 ms to answer.
        sim.set_faults("sale.order/message_post:latency_per_record=20ms")
        port = free_port()
        hub = _serve(path, port, tmp_path / "hub.log")
        try:
            post_events(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 30
            while sim.server.calls[("json2", "sale.order", "message_post")] == 0:
                assert time.monotonic() < deadline, "the hub never wrote a note"
                time.sleep(0.005)
            time.sleep(0.3)  # inside the answer's latency: committed, not acknowledged
        finally:
            hub.send_signal(signal.SIGKILL)
            hub.wait(10)
        sim.set_faults(None)
        store = open_store(database)
        with store.read() as conn:
            in_flight = conn.execute(
                select(outbox.c.seq).where(
                    outbox.c.status == "pending", outbox.c.lease_until.is_not(None)
                )
            ).all()
        assert in_flight, "the kill should leave claimed, unacknowledged commands"
        with store.write() as conn:  # the 120 s lease runs out (without waiting for it)
            conn.execute(
                update(outbox)
                .where(outbox.c.lease_until.is_not(None))
                .values(lease_until="2000-01-01T00:00:00.000000Z")
            )
        hub = _serve(path, port, tmp_path / "hub.log")
        try:
            wait_delivered(store, len(EVENTS), timeout=60)
        finally:
            hub.send_signal(signal.SIGTERM)
            hub.wait(20)
            store.dispose()
        assert_one_application(odoo_state(sim))
