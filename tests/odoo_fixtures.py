"""Fixtures for tests that run against the Odoo test server on both protocols.

Import them into a conftest or test module (`from tests.odoo_fixtures import protocol,
sim, sink`): each test using them runs once on JSON-2 (an Odoo 19 server) and once on
JSON-RPC (an Odoo 18 one, which has no JSON-2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from intermodal.connectors.odoo.sink import OdooSink
from intermodal_sim.odoo.testing import RunningSim, running_sim
from tests.connectors.odoo.helpers import endpoint

PROTOCOLS = {"json2": 19, "jsonrpc": 18}


@pytest.fixture(params=sorted(PROTOCOLS))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim(protocol: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSim]:
    with running_sim(version=PROTOCOLS[protocol]) as running:
        monkeypatch.setenv("ODOO_TEST_API_KEY", running.api_key)
        yield running


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[RunningSim, str]]:
    """One server per protocol for a whole module (each test uses its own shipment keys),
    with its API key where the endpoint's `env:ODOO_TEST_API_KEY` reads it."""
    with (
        running_sim(version=PROTOCOLS[request.param]) as running,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("ODOO_TEST_API_KEY", running.api_key)
        yield running, str(request.param)


@pytest_asyncio.fixture
async def sink(sim: RunningSim, protocol: str) -> AsyncIterator[OdooSink]:
    async with httpx.AsyncClient() as http:
        yield OdooSink(endpoint(sim, protocol), http)
