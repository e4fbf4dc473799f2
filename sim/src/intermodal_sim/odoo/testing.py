"""Run the sim inside a test process: a real uvicorn server on a free loopback port.

    with running_sim(faults="seed=1,latency=5ms") as sim:
        httpx.post(f"{sim.url}/json/2/res.partner/search", ...,
                   headers={"Authorization": f"bearer {sim.api_key}"})

Tests outside the project can rely on the defaults: database `intermodal`, user `admin`
with password `admin`, and the API key in `sim.api_key`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from intermodal_sim.odoo.app import create_app
from intermodal_sim.odoo.faults import FaultPlan
from intermodal_sim.odoo.service import OdooSim, SimConfig

# The login every Odoo demo database has; tests outside the project rely on it.
DEFAULT_PASSWORD = "admin"  # noqa: S105


@dataclass
class RunningSim:
    """Where a running sim listens and how to log in to it."""

    url: str
    host: str
    port: int
    db: str
    login: str
    password: str
    api_key: str
    server: OdooSim

    def set_faults(self, spec: str | None) -> FaultPlan:
        """Change the faults of the running server, as PUT /__sim/faults does."""
        return self.server.set_faults(spec)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """The test process owns its signals; a server in a thread must not take them."""


@contextmanager
def serve_in_thread(
    sim: OdooSim, host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[str, int]]:
    config = uvicorn.Config(
        create_app(sim),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="odoo-sim", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("odoo-sim failed to start")
        thread.join(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield str(bound[0]), int(bound[1])
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running_sim(
    *,
    db: str = "intermodal",
    version: int = 19,
    data: Path | None = None,
    faults: str | None = None,
    api_key: str | None = "sim-test-api-key",
    storage: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[RunningSim]:
    """Start a seeded sim on a free port for the duration of the block."""
    sim = OdooSim(
        SimConfig(
            db=db, version=version, data=data, faults=faults, api_key=api_key, storage=storage
        )
    )
    with serve_in_thread(sim, host, port) as (bound_host, bound_port):
        yield RunningSim(
            url=f"http://{bound_host}:{bound_port}",
            host=bound_host,
            port=bound_port,
            db=db,
            login="admin",
            password="admin",  # noqa: S106 - the documented default login
            api_key=sim.api_key,
            server=sim,
        )
    sim.db.close()


def run_forever(sim: OdooSim, host: str, port: int) -> None:
    """The CLI's server: uvicorn in the foreground until interrupted."""
    config = uvicorn.Config(create_app(sim), host=host, port=port, log_level="info",
                            access_log=False)  # fmt: skip
    asyncio.run(uvicorn.Server(config).serve())
