"""An endpoint that records the order commands arrive in, and a backlog to deliver to it."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.engine.ids import iso, utcnow
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import Store
from intermodal.store.tables import dead_letters, outbox


@dataclass
class OrderedReceiver:
    """Applies each command id once, in the order they arrive; can be down for a while,
    fail at random, answer slowly, or refuse chosen commands for good (HTTP 400)."""

    down_until: float = 0.0
    """`time.monotonic()` until which every request gets a 503."""
    fail_rate: float = 0.0
    delay: float = 0.0
    refuse: set[str] = field(default_factory=set)
    arrivals: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    received: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hooks(request: Request) -> Response:
            body = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay * self.rng.random())
            value = orjson.loads(body)
            items = value if isinstance(value, list) else [value]
            with self.lock:
                self.requests += 1
                if time.monotonic() < self.down_until or self.rng.random() < self.fail_rate:
                    return JSONResponse({"error": "down"}, 503)
                if any(item["id"] in self.refuse for item in items):
                    return JSONResponse({"error": "refused"}, 400)
                for item in items:
                    self.received[item["id"]] += 1
                    if self.received[item["id"]] == 1:
                        self.arrivals[item["subject"]].append(item["n"])
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hooks", hooks, methods=["POST"])])

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.received.values())

    def out_of_order(self) -> dict[str, list[int]]:
        """Subjects whose commands did not arrive in the order they were enqueued."""
        return {s: ns for s, ns in self.arrivals.items() if ns != sorted(ns)}


def command(subject: str, n: int, endpoint: str = "portal") -> OutboundCommand:
    command_id = f"cmd_{subject}_{n:04d}"
    payload = orjson.dumps({"id": command_id, "subject": subject, "n": n})
    return OutboundCommand(
        command_id, endpoint, "test.step", subject, payload, "corr", iso(utcnow())
    )


def enqueue_interleaved(
    store: Store, shipments: int, steps: int, chunk: int = 50, first_step: int = 0
) -> int:
    """Step n of every shipment, then step n + 1 of every shipment..., `chunk` per
    transaction, so each shipment's commands are spread over the outbox."""
    commands = [
        command(f"SHP-{s:04d}", n)
        for n in range(first_step, first_step + steps)
        for s in range(shipments)
    ]
    for i in range(0, len(commands), chunk):
        with store.write() as conn:
            enqueue(conn, commands[i : i + chunk])
    return len(commands)


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        found = {status: int(n) for status, n in rows}
        found["dead"] = int(
            conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        )
    return found


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)
