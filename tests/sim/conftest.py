"""Helpers for the partner simulator tests: the example mappings, reading the hub's view
of a shipment over HTTP, and waiting for it to reach a state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from intermodal_sim.testing import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
READ_TOKEN = "sim-tests-read-token-4c1d9e-0123456789"
"""The hub's admin token in these tests (`reader_hub`): it reads every shipment."""
READ = {"authorization": f"Bearer {READ_TOKEN}"}


def shipment(hub: str, key: str) -> dict[str, Any] | None:
    """The hub's view of a shipment with its charges (full read), or None while unknown."""
    response = httpx.get(f"{hub}/v1/shipments/{key}", headers=READ)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def timeline(hub: str, key: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{hub}/v1/shipments/{key}/timeline", headers=READ)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    body = response.json()
    items: list[dict[str, Any]] = body["events"] if isinstance(body, dict) else body
    return items


def wait_for_state(hub: str, key: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    def reached() -> bool:
        found = shipment(hub, key)
        return found is not None and found["state"] == state

    reached.__name__ = f"{key} reaches {state}"
    wait_until(reached, timeout=timeout)
    found = shipment(hub, key)
    assert found is not None
    return found


def reader_hub(database: str) -> dict[str, Any]:
    """The `hub` section: the database, and READ_TOKEN as the admin token, which reads
    every shipment in full (charges); a partner reads only those it took part in."""
    return {"database": database, "admin_token": "env:SIM_READ_TOKEN"}


CLIENT = httpx.Client(timeout=30)
"""One client for the property tests: a new httpx client per request costs more than the
request itself (it builds an SSL context)."""
