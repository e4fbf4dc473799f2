"""How many calls per second the Odoo sim serves with no faults, so it never bottlenecks a bench.

Measures search_read and write over JSON-2 with a few concurrent httpx clients, and, as the
peer in the same run, the same calls over XML-RPC (/xmlrpc/2/object) on the same server.
Prints `RESULT odoo_sim <metric>=<value> <unit> peer=<value> ratio=<value>` lines.

    .venv/bin/python bench/odoo_sim.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import xmlrpc.client
from typing import Any

import httpx

from intermodal_sim.odoo.testing import running_sim


async def _drive(url: str, concurrency: int, seconds: float, make: Any) -> float:
    stop = time.monotonic() + seconds
    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            while time.monotonic() < stop:
                response = await make(client, index)
                response.raise_for_status()
                done += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done / (time.monotonic() - start)


def json2_call(key: str, model: str, method: str, body: dict[str, Any]) -> Any:
    headers = {"Authorization": f"bearer {key}"}

    async def make(client: httpx.AsyncClient, index: int) -> httpx.Response:
        payload = dict(body)
        if method == "write":
            payload["vals"] = {"ref": f"BENCH-{index}-{time.monotonic_ns()}"}
        return await client.post(f"/json/2/{model}/{method}", json=payload, headers=headers)

    return make


def xmlrpc_call(db: str, model: str, method: str, args: list[Any], kw: dict[str, Any]) -> Any:
    async def make(client: httpx.AsyncClient, index: int) -> httpx.Response:
        call_args = args if method != "write" else [args[0], {"ref": f"BENCH-X-{index}"}]
        body = xmlrpc.client.dumps((db, 2, "admin", model, method, call_args, kw), "execute_kw")
        response = await client.post(
            "/xmlrpc/2/object", content=body, headers={"Content-Type": "text/xml"}
        )
        xmlrpc.client.loads(response.content)  # raises on a fault
        return response

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s per measurement")
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args()
    seconds = 5.0 if options.quick else 20.0
    domain = [["customer_rank", ">", 0]]
    fields = ["name", "country_id", "email"]
    with running_sim() as sim:
        cases = {
            "search_read": (
                json2_call(
                    sim.api_key,
                    "res.partner",
                    "search_read",
                    {"domain": domain, "fields": fields, "limit": 20},
                ),
                xmlrpc_call(
                    sim.db, "res.partner", "search_read", [domain], {"fields": fields, "limit": 20}
                ),
            ),
            "write": (
                json2_call(sim.api_key, "res.partner", "write", {"ids": [6]}),
                xmlrpc_call(sim.db, "res.partner", "write", [[6]], {}),
            ),
        }
        for name, (json2, peer) in cases.items():
            ours = asyncio.run(_drive(sim.url, options.concurrency, seconds, json2))
            theirs = asyncio.run(_drive(sim.url, options.concurrency, seconds, peer))
            print(
                f"RESULT odoo_sim json2_{name}={ours:.0f} calls/s "
                f"peer={theirs:.0f} ratio={ours / theirs:.2f}"
            )


if __name__ == "__main__":
    main()
