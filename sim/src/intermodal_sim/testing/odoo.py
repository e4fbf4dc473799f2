"""A hub wired to an Odoo server, for tests and benchmarks: config, seed orders, wait.

Shared by `tests/connectors/odoo` and `bench/odoo_*.py` so both measure the same path a
deployment runs: partner HTTP -> inbox -> applier -> outbox -> dispatcher -> OdooSink.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from sqlalchemy import func, select

from intermodal.config import Endpoint, Settings, load_config
from intermodal.connectors.odoo.sink import OdooSink
from intermodal.outbox.sinks import ClaimedCommand
from intermodal.security.secrets import write_secret_file
from intermodal.store import Store
from intermodal.store.tables import dead_letters, outbox

CARRIER_TOKEN = "carrier-token-for-tests-0123456789"  # noqa: S105 - a test fixture, not a secret
MILESTONES = ("dispatched", "picked_up", "in_transit", "out_for_delivery", "delivered")


def hub_config(
    folder: Path,
    database: str,
    odoo_url: str,
    odoo_db: str,
    api_key_env: str,
    protocol: str = "auto",
    port: int = 0,
    rate_per_second: float = 5000.0,
    delivery: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """A YAML config: a carrier partner with a token, and an `odoo` endpoint."""
    write_secret_file(folder / "carrier.token", CARRIER_TOKEN, overwrite=True)
    config = {
        "hub": {"database": database, "port": port},
        "partners": {"carrier": {"kind": "carrier", "tokens": [{"token": "file:carrier.token"}]}},
        "endpoints": {
            "odoo": {
                "kind": "odoo",
                "url": odoo_url,
                "batch_size": 500,
                "rate_per_second": rate_per_second,
                "options": {
                    "database": odoo_db,
                    "api_key": f"env:{api_key_env}",
                    "protocol": protocol,
                    "login": "admin",
                    **options,
                },
            }
        },
        "delivery": {
            "backoff_base_seconds": 0.2,
            "backoff_max_seconds": 2.0,
            "max_attempts": 50,
            **(delivery or {}),
        },
    }
    path = folder / "intermodal.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def settings_from(path: Path) -> Settings:
    return load_config(path)


SEED_LINES: list[dict[str, Any]] = [
    {"product": "FTL", "quantity": 1},
    {"product": "PAL-EUR", "quantity": 2},
]
"""Road freight (a service) and two pallets (goods): the order gets a delivery to validate.
An order of services only would get none (sale_stock `_action_launch_stock_rule`)."""


async def seed_orders(
    endpoint: Endpoint, keys: list[str], lines: list[dict[str, Any]] | None = None
) -> None:
    """Create and confirm one sale order per shipment key (the hub's order intake)."""
    commands = []
    for seq, key in enumerate(keys, 1):
        command_id = f"cmd_seed_{key}"
        payload = {
            "specversion": "1.0",
            "id": command_id,
            "source": "intermodal",
            "type": "intermodal.odoo.order.upsert",
            "subject": key,
            "time": "2026-11-23T00:00:00Z",
            "data": {
                "customer": {"role": "customer", "name": "Acme", "reference": "ACME-1"},
                "lines": lines if lines is not None else SEED_LINES,
            },
        }
        commands.append(
            ClaimedCommand(seq, command_id, "odoo", "odoo", key, orjson.dumps(payload), "seed", 0)
        )
    async with httpx.AsyncClient() as http:
        sink = OdooSink(endpoint, http)
        results = await sink.write(commands)
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"seeding orders failed: {failed[:3]}")


def milestone_events(keys: list[str], milestones: tuple[str, ...] = MILESTONES) -> list[Any]:
    """One carrier event per shipment and milestone, in the order they happen."""
    events = []
    for step, name in enumerate(milestones):
        for key in keys:
            events.append(
                {
                    "specversion": "1.0",
                    "id": f"evt-{key}-{name}",
                    "source": "carrier",
                    "type": "intermodal.shipment.milestone",
                    "subject": key,
                    "time": f"2026-11-23T{8 + step:02d}:00:00Z",
                    "data": {"milestone": name, "occurred_at": f"2026-11-23T{8 + step:02d}:00:00Z"},
                }
            )
    return events


def outbox_counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        dead = conn.execute(select(func.count()).select_from(dead_letters)).scalar() or 0
    counts = {str(status): int(n) for status, n in rows}
    counts["dead"] = int(dead)
    return counts


def wait_delivered(store: Store, expected: int, timeout: float = 120.0) -> dict[str, int]:
    """Block until `expected` commands are delivered (or dead); the final counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = outbox_counts(store)
        if counts.get("delivered", 0) + counts["dead"] >= expected:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {counts} after {timeout}s (expected {expected})")
        time.sleep(0.05)
