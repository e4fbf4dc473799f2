"""Rating: rate shops per second across both simulated carriers, concurrent vs sequential.

Both carrier simulators run on loopback, each in its own process (`intermodal sim
carrier`), with a fixed answer latency, as a real carrier API has. The hub's
`RateShopper.shop` asks every carrier at once under a deadline; the peer is the naive loop
that asks one carrier after the other (what a first integration usually does). Both use
the same HTTP client. Two figures: latency of one shop at a time (what a person booking
waits: the slowest carrier instead of the sum), and shops per second with many shipments
in flight (CPU-bound on a small machine, where asking concurrently gains nothing).

    python bench/rating.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, Server, machine, percentile, result_line
from intermodal.canonical.model import Address, Shipment, Stop, StopKind
from intermodal.config import Endpoint
from intermodal.connectors.carriers.contract import CarrierConnector, Parcel
from intermodal.connectors.carriers.registry import build_connector
from intermodal.connectors.carriers.shopping import RateShopper, ShoppingPolicy
from intermodal_sim.testing import free_port

PARCELS = [Parcel(weight_kg=Decimal(3), length_cm=Decimal(40), width_cm=Decimal(30),
                  height_cm=Decimal(20))]  # fmt: skip


def shipment(i: int) -> Shipment:
    return Shipment(
        key=f"BENCH-{i}",
        stops=[
            Stop(sequence=1, kind=StopKind.PICKUP, address=Address(country="US", postal_code="1")),
            Stop(
                sequence=2, kind=StopKind.DELIVERY, address=Address(country="US", postal_code="2")
            ),
        ],
    )


def endpoint(name: str, url: str, options: dict[str, str]) -> Endpoint:
    return Endpoint(name=name, kind="carrier", url=url, secret_key=None, milestones=None,
                    max_attempts=10, rate_per_second=1e6, timeout_seconds=10, batch_size=1,
                    options=options)  # fmt: skip


async def measure(
    shop: Callable[[Shipment], Awaitable[object]], shops: int, in_flight: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await shop(shipment(i))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(shops)))
    return shops / (time.perf_counter() - started), latencies


async def run(pp_url: str, fl_url: str, shops: int, in_flight: int) -> None:
    limits = httpx.Limits(max_connections=4 * in_flight, max_keepalive_connections=4 * in_flight)
    async with httpx.AsyncClient(limits=limits) as client:
        connectors: dict[str, CarrierConnector] = {
            "parcelpro": build_connector(
                endpoint("parcelpro", pp_url, {"carrier": "parcelpro", "api_key": "env:BENCH_PP"}),
                client,
            ),
            "freightline": build_connector(
                endpoint("freightline", fl_url, {"carrier": "freightline", "username": "bench",
                                                 "password": "env:BENCH_FL"}),
                client,
            ),
        }  # fmt: skip
        shopper = RateShopper(connectors, ShoppingPolicy(deadline_seconds=10))

        async def concurrent(s: Shipment) -> object:
            quote = await shopper.shop(s, PARCELS)
            assert len(quote.rates) == 4, quote.failures
            return quote

        async def sequential(s: Shipment) -> object:
            return [await c.rate(s, PARCELS) for c in connectors.values()]

        await measure(concurrent, in_flight, in_flight)  # warm the connections
        single = max(50, shops // 10)
        _, peer_one = await measure(sequential, single, 1)
        _, hub_one = await measure(concurrent, single, 1)
        peer, peer_lat = await measure(sequential, shops, in_flight)
        hub, hub_lat = await measure(concurrent, shops, in_flight)
    p50_hub, p50_peer = percentile(hub_one, 50) * 1000, percentile(peer_one, 50) * 1000
    print(f"one at a time: hub p50={p50_hub:.1f} ms  peer p50={p50_peer:.1f} ms")
    print(result_line("rating", "shop_p50_ms_one_at_a_time", p50_hub, "ms", p50_peer))
    print(f"peer (sequential): {peer:.0f} shops/s  p50={percentile(peer_lat, 50) * 1000:.1f} ms"
          f"  p99={percentile(peer_lat, 99) * 1000:.1f} ms")  # fmt: skip
    print(f"hub (concurrent):  {hub:.0f} shops/s  p50={percentile(hub_lat, 50) * 1000:.1f} ms"
          f"  p99={percentile(hub_lat, 99) * 1000:.1f} ms")  # fmt: skip
    print(result_line("rating", "shops_per_s", hub, "shops/s", peer))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer shops (a few seconds)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="each carrier's delay")
    args = parser.parse_args()
    shops, in_flight = (200, 16) if args.quick else (2000, 32)
    print(machine())
    os.environ["BENCH_PP"], os.environ["BENCH_FL"] = "bench-key", "bench-pass"
    sims = [sim("parcelpro", "bench-key", args.latency_ms), sim("freightline", "bench-pass",
                                                                 args.latency_ms)]  # fmt: skip
    try:
        for server in sims:
            server.start()
        urls = [f"http://127.0.0.1:{server.port}" for server in sims]
        print(f"{shops} shops, {in_flight} in flight, carrier latency {args.latency_ms:.0f} ms")
        asyncio.run(run(urls[0], urls[1], shops, in_flight))
    finally:
        for server in sims:
            server.stop()


def sim(kind: str, secret: str, latency_ms: float) -> Server:
    port = free_port()
    run_cli = "from intermodal_sim.carriers.cli import sim_app; sim_app()"
    argv = [PYTHON, "-c", run_cli, "carrier", "--kind", kind, "--port", str(port),
            "--secret", secret, "--username", "bench", "--latency-ms", str(latency_ms)]  # fmt: skip
    return Server(kind, argv, port, ready_path="/_sim/labels")


if __name__ == "__main__":
    main()
