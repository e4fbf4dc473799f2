"""Done-when: serialization failures, 429s and a 30-second outage of Odoo. Everything
arrives, nothing twice, and while Odoo is down the hub knocks at the breaker's pace only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from intermodal.store import open_store
from intermodal_sim.odoo.testing import running_sim
from intermodal_sim.testing import running_hub
from intermodal_sim.testing.odoo import (
    CARRIER_TOKEN,
    hub_config,
    milestone_events,
    seed_orders,
    settings_from,
    wait_delivered,
)
from tests.connectors.odoo.test_replay import odoo_state

BREAKER_FAILURES = 5
BREAKER_RESET = 5.0
OUTAGE = 30.0


def post(url: str, events: list[object]) -> None:
    response = httpx.post(
        f"{url}/v1/events",
        json=events,
        headers={"authorization": f"Bearer {CARRIER_TOKEN}"},
        timeout=60,
    )
    response.raise_for_status()


@pytest.mark.slow
def test_serialization_429_and_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first_keys = [f"A-{i:03d}" for i in range(100)]
    second_keys = [f"B-{i:03d}" for i in range(100)]
    with running_sim() as sim:
        monkeypatch.setenv("TEST_ODOO_KEY", sim.api_key)
        path = hub_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'hub.db'}",
            sim.url,
            sim.db,
            "TEST_ODOO_KEY",
            delivery={
                "breaker_failures": BREAKER_FAILURES,
                "breaker_reset_seconds": BREAKER_RESET,
            },
        )
        settings = settings_from(path)
        asyncio.run(seed_orders(settings.endpoints["odoo"], first_keys + second_keys))
        first, second = milestone_events(first_keys), milestone_events(second_keys)
        with running_hub(settings) as url:
            store = open_store(settings.hub.database)
            sim.set_faults("seed=11,serialization=0.15,429=0.15,retry_after=1s")
            post(url, first)
            wait_delivered(store, len(first), timeout=240)
            assert sim.server.call_counts()["total"] > 0

            sim.set_faults(f"down={OUTAGE:.0f}s")
            down_started = time.monotonic()
            before = sim.server.call_counts()["total"]
            post(url, second)
            time.sleep(OUTAGE - (time.monotonic() - down_started) - 0.2)
            during = sim.server.call_counts()["total"] - before
            sim.set_faults(None)
            counts = wait_delivered(store, len(first) + len(second), timeout=240)
            store.dispose()
        # The breaker opens after BREAKER_FAILURES failed calls, then lets one trial through
        # every BREAKER_RESET seconds.
        assert during <= BREAKER_FAILURES + OUTAGE / BREAKER_RESET + 2, during
        assert counts["dead"] == 0
        state = odoo_state(sim)
        # Routine milestones leave no note by default (note_milestones); notes written
        # exactly once under replays and faults: test_replay.py.
        assert state["notes"] == 0
        assert [s for _, s in state["pickings"]] == ["done"] * (len(first_keys) * 2)
