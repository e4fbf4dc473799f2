"""Helpers for the partner simulator tests: the example mappings, reading the hub's view
of a shipment over HTTP, and waiting for it to reach a state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from intermodal_sim.testing import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
READ_TOKEN = "sim-tests-read-token-4c1d9e"


def shipment(hub: str, key: str) -> dict[str, Any] | None:
    """The hub's view of a shipment with its charges (full read), or None while unknown."""
    response = httpx.get(
        f"{hub}/v1/shipments/{key}", headers={"authorization": f"Bearer {READ_TOKEN}"}
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def timeline(hub: str, key: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{hub}/v1/shipments/{key}/timeline")
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


def reader_partner() -> dict[str, Any]:
    """A partner whose token may read shipments in full (charges)."""
    return {"tokens": [{"token": "env:SIM_READ_TOKEN", "scopes": ["shipments:read"]}]}


CLIENT = httpx.Client(timeout=30)
"""One client for the property tests: a new httpx client per request costs more than the
request itself (it builds an SSL context)."""
