"""W2: carrier-webhook-to-Odoo-write latency, p50/p99, at 500 events/s offered.

The Odoo test server (own process) answers each call after 15 ms + 0.5 ms per record, and
the Odoo side takes at most 2 calls at once (both sides are held to 2 calls in flight). The
hub (own process, `intermodal serve`) receives signed carrier webhooks of 10 milestone
events every 20 ms; an event's latency runs from its webhook being sent to the Odoo call
that wrote its note being acknowledged (the outbox command's `delivered_at`).

The naive peer gets the same stream in the same run, against its own fresh server: per
event one `search` + one `write`, 2 workers. It cannot keep up (about 65 events/s at these
latencies), so its figures are over the events it wrote before the cut-off, a lower bound.

    .venv/bin/python bench/odoo_latency.py [--quick]

Prints `RESULT W2 odoo_p50=..`, `RESULT W2 odoo_p99=.. ms peer=.. ratio=..`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from sqlalchemy import select

from intermodal.config import load_config
from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import open_store
from intermodal.store.tables import outbox
from intermodal_sim.testing import free_port
from intermodal_sim.testing.odoo import milestone_events, seed_orders

RATE = 500  # events per second offered
PER_REQUEST = 10
FAULTS = "latency=15ms,latency_per_record=0.5ms"
BIN = Path(sys.executable).parent / "intermodal"


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: process exited")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_sim(api_key: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN), "odoo-sim", "--port", str(port), "--api-key", api_key],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/__sim/health", process)
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


async def offer(events: list[dict[str, Any]], send: Any, seconds: float) -> dict[str, float]:
    """Send `events` at RATE/s in groups of PER_REQUEST; the send time of each event id."""
    sent: dict[str, float] = {}
    interval = PER_REQUEST / RATE
    started = time.perf_counter()
    tasks = []
    for i in range(0, len(events), PER_REQUEST):
        due = started + (i // PER_REQUEST) * interval
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if time.perf_counter() - started > seconds:
            break
        group = events[i : i + PER_REQUEST]
        now = time.time()
        for event in group:
            sent[event["id"]] = now
        tasks.append(asyncio.create_task(send(group)))
    await asyncio.gather(*tasks)
    return sent


def percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0] if values else float("nan"),) * 2  # type: ignore[return-value]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def ours(keys: list[str], seconds: float, folder: Path) -> tuple[float, float, int, int]:
    api_key = secrets.token_hex(16)
    sim, sim_url = start_sim(api_key)
    hub = None
    try:
        os.environ["BENCH_ODOO_KEY"] = api_key
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        os.environ["BENCH_CARRIER_SECRET"] = secret
        port = free_port()
        database = f"sqlite:///{folder / 'hub.db'}"
        config = {
            "hub": {"database": database, "port": port},
            "partners": {
                "carrier": {"kind": "carrier", "webhook_secrets": ["env:BENCH_CARRIER_SECRET"]}
            },
            "endpoints": {
                "odoo": {
                    "kind": "odoo",
                    "url": sim_url,
                    "batch_size": 1000,
                    "rate_per_second": 100_000,
                    "options": {
                        "database": "intermodal",
                        "api_key": "env:BENCH_ODOO_KEY",
                        "concurrency": 2,
                        "linger_ms": 0,
                    },
                }
            },
        }
        path = folder / "hub.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        settings = load_config(path)
        asyncio.run(seed_orders(settings.endpoints["odoo"], keys))
        httpx.put(f"{sim_url}/__sim/faults", content=FAULTS).raise_for_status()
        hub = subprocess.Popen(
            [str(BIN), "serve", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(f"http://127.0.0.1:{port}/readyz", hub)  # its applier process is up
        key = webhook_key(Secret(secret))
        events = milestone_events(keys)  # milestone by milestone over all shipments

        async def run() -> dict[str, float]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

                async def send(group: list[dict[str, Any]]) -> None:
                    body = orjson.dumps(group)
                    msg_id = "msg_" + secrets.token_hex(8)
                    stamp = int(time.time())
                    response = await http.post(
                        "/v1/webhooks/carrier",
                        content=body,
                        headers={
                            "content-type": "application/json",
                            "webhook-id": msg_id,
                            "webhook-timestamp": str(stamp),
                            "webhook-signature": sign(key, msg_id, stamp, body),
                        },
                    )
                    response.raise_for_status()

                return await offer(events, send, seconds)

        sent = asyncio.run(run())
        store = open_store(database)
        deadline = time.monotonic() + 60
        latencies: list[float] = []
        while time.monotonic() < deadline:
            with store.read() as conn:
                rows = conn.execute(
                    select(outbox.c.payload, outbox.c.delivered_at, outbox.c.status)
                ).all()
            if rows and len(rows) >= len(sent) and all(r.status == "delivered" for r in rows):
                break
            time.sleep(0.5)
        for row in rows:
            if row.delivered_at is None:
                continue
            cause = orjson.loads(row.payload)["causationid"]
            written = datetime.fromisoformat(row.delivered_at).timestamp()
            latencies.append((written - sent[cause]) * 1000)
        store.dispose()
        calls = httpx.get(f"{sim_url}/__sim/calls").json()["total"]
        p50, p99 = percentiles(latencies)
        return p50, p99, len(latencies), int(calls)
    finally:
        if hub is not None:
            stop(hub)
        stop(sim)


def naive(keys: list[str], seconds: float) -> tuple[float, float, int, int]:
    api_key = secrets.token_hex(16)
    sim, sim_url = start_sim(api_key)
    try:
        os.environ["BENCH_ODOO_KEY"] = api_key
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.yaml"
            path.write_text(yaml.safe_dump({"endpoints": {"odoo": {
                "kind": "odoo", "url": sim_url,
                "options": {"database": "intermodal", "api_key": "env:BENCH_ODOO_KEY"},
            }}}), encoding="utf-8")  # fmt: skip
            asyncio.run(seed_orders(load_config(path).endpoints["odoo"], keys))
        httpx.put(f"{sim_url}/__sim/faults", content=FAULTS).raise_for_status()
        events = milestone_events(keys)
        latencies: list[float] = []

        async def run() -> None:
            queue: asyncio.Queue[tuple[dict[str, Any], float]] = asyncio.Queue()
            cutoff = time.time() + seconds + 5
            async with httpx.AsyncClient() as http:
                client = OdooClient(
                    Connection(sim_url, "intermodal", Secret(api_key), concurrency=2), http
                )

                async def worker() -> None:
                    while time.time() < cutoff:
                        try:
                            event, at = await asyncio.wait_for(queue.get(), 0.5)
                        except TimeoutError:
                            continue
                        ids = await client.call(
                            "stock.picking",
                            "search",
                            domain=[["sale_id.client_order_ref", "=", event["subject"]]],
                        )
                        note = f"{event['data']['milestone']} at {event['data']['occurred_at']}"
                        await client.call("stock.picking", "write", ids, vals={"note": note})
                        latencies.append((time.time() - at) * 1000)

                async def send(group: list[dict[str, Any]]) -> None:
                    now = time.time()
                    for event in group:
                        queue.put_nowait((event, now))

                workers = [asyncio.create_task(worker()) for _ in range(2)]
                await offer(events, send, seconds)
                await asyncio.gather(*workers)

        asyncio.run(run())
        calls = httpx.get(f"{sim_url}/__sim/calls").json()["total"]
        p50, p99 = percentiles(latencies)
        return p50, p99, len(latencies), int(calls)
    finally:
        stop(sim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8 s of load instead of 30 s")
    options = parser.parse_args()
    seconds = 8.0 if options.quick else 30.0
    shipments = int(RATE * seconds / 5)
    keys = [f"SHP-{i:05d}" for i in range(shipments)]
    offered = shipments * 5
    with tempfile.TemporaryDirectory() as tmp:
        p50, p99, written, calls = ours(keys, seconds, Path(tmp))
    peer50, peer99, peer_written, peer_calls = naive(keys, seconds)
    print(f"# {offered} events offered at {RATE}/s over {seconds:.0f}s; Odoo 15 ms + 0.5 ms/record,"
          f" 2 calls in flight")  # fmt: skip
    print(f"# ours: {written} written, {calls} Odoo calls; naive: {peer_written} written "
          f"before the cut-off, {peer_calls} calls")  # fmt: skip
    print(f"RESULT W2 odoo_p50={p50:.0f} ms peer={peer50:.0f} ratio={peer50 / p50:.0f}")
    print(f"RESULT W2 odoo_p99={p99:.0f} ms peer={peer99:.0f} ratio={peer99 / p99:.0f}")


if __name__ == "__main__":
    main()
