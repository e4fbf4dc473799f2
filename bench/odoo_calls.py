"""W3: Odoo calls per 1,000 carrier milestone events for 200 shipments, counted by the sim.

The whole path runs: the events go to the hub's batch API as a carrier would send them,
the applier turns each state change into an outbox command, and the dispatcher hands them
to the Odoo sink, which coalesces them. The Odoo test server counts every call it gets.
The naive peer, measured in the same run against a fresh server with the same orders,
does what most integrations do: per event, one `search` for the shipment's transfer and
one `write` of the milestone onto it.

    .venv/bin/python bench/odoo_calls.py [--quick] [--protocol json2|jsonrpc]

Prints `RESULT W3 odoo_calls_per_1000_events=<n> calls peer=<n> ratio=<x>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.security.secrets import Secret
from intermodal.store import open_store
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.testing import running_hub
from intermodal_sim.testing.odoo import (
    CARRIER_TOKEN,
    hub_config,
    milestone_events,
    seed_orders,
    settings_from,
    wait_delivered,
)


def ours(
    sim: RunningSim, keys: list[str], protocol: str, folder: Path, batch: int
) -> tuple[int, float]:
    os.environ["BENCH_ODOO_KEY"] = sim.api_key
    path = hub_config(
        folder, f"sqlite:///{folder / 'hub.db'}", sim.url, sim.db, "BENCH_ODOO_KEY", protocol
    )
    settings = settings_from(path)
    asyncio.run(seed_orders(settings.endpoints["odoo"], keys))
    events = milestone_events(keys)
    sim.server.reset_counts()
    started = time.perf_counter()
    with running_hub(settings) as url:
        headers = {"authorization": f"Bearer {CARRIER_TOKEN}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            for start in range(0, len(events), batch):
                response = http.post("/v1/events", json=events[start : start + batch])
                response.raise_for_status()
        store = open_store(settings.hub.database)
        counts = wait_delivered(store, len(events))
        store.dispose()
    elapsed = time.perf_counter() - started
    if counts["dead"]:
        raise SystemExit(f"dead letters in our run: {counts}")
    print("# ours:", sim.server.call_counts()["calls"])
    return int(sim.server.call_counts()["total"]), elapsed


async def naive(sim: RunningSim, keys: list[str], protocol: str) -> tuple[int, float]:
    """One search + one write per event, as most integrations do."""
    endpoint_env = "BENCH_ODOO_KEY"
    os.environ[endpoint_env] = sim.api_key
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from(
            hub_config(Path(tmp), "sqlite:///unused.db", sim.url, sim.db, endpoint_env, protocol)
        )
        await seed_orders(settings.endpoints["odoo"], keys)
    sim.server.reset_counts()
    started = time.perf_counter()
    async with httpx.AsyncClient() as http:
        client = OdooClient(
            Connection(sim.url, sim.db, Secret(sim.api_key), "admin", protocol), http
        )  # fmt: skip
        for event in milestone_events(keys):
            ids = await client.call(
                "stock.picking",
                "search",
                domain=[["sale_id.client_order_ref", "=", event["subject"]]],
            )
            note = f"{event['data']['milestone']} at {event['data']['occurred_at']}"
            await client.call("stock.picking", "write", ids, vals={"note": note})
    elapsed = time.perf_counter() - started
    return int(sim.server.call_counts()["total"]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="same workload (it is small)")
    parser.add_argument("--protocol", choices=["json2", "jsonrpc"], default="json2")
    parser.add_argument(
        "--batch", type=int, default=1000, help="events per carrier request (default: all 1000)"
    )
    options = parser.parse_args()
    keys = [f"SHP-{i:04d}" for i in range(200)]
    version = 19 if options.protocol == "json2" else 18
    events = len(keys) * 5
    with tempfile.TemporaryDirectory() as tmp, running_sim(version=version) as sim:
        our_calls, our_seconds = ours(sim, keys, options.protocol, Path(tmp), options.batch)
    with running_sim(version=version) as sim:
        peer_calls, peer_seconds = asyncio.run(naive(sim, keys, options.protocol))
    per_1000 = our_calls * 1000 / events
    peer_per_1000 = peer_calls * 1000 / events
    print(
        f"# {events} events in requests of {options.batch}, 200 shipments, {options.protocol}: "
        f"ours {our_calls} calls in {our_seconds:.1f}s, "
        f"naive {peer_calls} calls in {peer_seconds:.1f}s"
    )
    print(
        f"RESULT W3 odoo_calls_per_1000_events={per_1000:.1f} calls "
        f"peer={peer_per_1000:.1f} ratio={peer_per_1000 / per_1000:.0f}"
    )


if __name__ == "__main__":
    main()
