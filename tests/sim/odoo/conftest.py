"""One seeded sim per test session (Odoo 19), reached over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from intermodal_sim.odoo.testing import RunningSim, running_sim

PORTAL_KEY = "portal-api-key"


@pytest.fixture(scope="session")
def sim() -> Iterator[RunningSim]:
    with running_sim() as running:
        yield running


@pytest.fixture
def http(sim: RunningSim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client


@pytest.fixture
def json2(http: httpx.Client, sim: RunningSim) -> Callable[..., httpx.Response]:
    """POST /json/2/<model>/<method> with the admin key unless another is given."""

    def call(model: str, method: str, key: str | None = None, **body: Any) -> httpx.Response:
        return http.post(
            f"/json/2/{model}/{method}",
            json=body,
            headers={"Authorization": f"bearer {key or sim.api_key}", "X-Odoo-Database": sim.db},
        )

    return call


@pytest.fixture
def jsonrpc(http: httpx.Client) -> Callable[..., dict[str, Any]]:
    """POST /jsonrpc with a service call; returns the decoded envelope."""

    def call(service: str, method: str, *args: Any) -> dict[str, Any]:
        response = http.post(
            "/jsonrpc",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "id": 7,
                "params": {"service": service, "method": method, "args": list(args)},
            },
        )
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    return call
