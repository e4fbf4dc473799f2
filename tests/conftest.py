"""Shared fixtures: real SQLite files and real PostgreSQL databases, made and dropped here.

PostgreSQL is the machine's server at 127.0.0.1:5432 (trust auth); override with
INTERMODAL_TEST_PG (an admin URL). Each test that asks for `db_url` runs on both backends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.config import Settings, load_config
from intermodal.security.secrets import new_webhook_secret
from intermodal_sim.testing import serve_in_thread

PG_ADMIN = os.environ.get("INTERMODAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

ADMIN_TOKEN = "tests-admin-token-0f3b7c52e1-0123456"
os.environ["INTERMODAL_TESTS_ADMIN_TOKEN"] = ADMIN_TOKEN
ADMIN_TOKEN_REF = "env:INTERMODAL_TESTS_ADMIN_TOKEN"
"""`hub.admin_token` for tests that read shipments, receipts or metrics to check what the
hub did: every read is authenticated, and the admin token reads everything."""
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


ONE_WORKER = {
    "tests/engine/test_crash_safety.py": "crash",
    "tests/engine/test_node_loss.py": "crash",
}
"""Files whose tests a parallel run (`make test`, pytest-xdist) gives to one worker, one
after the other: each crash test drives hubs through 20,000 webhooks, and two at once
would load the machine more than their timings allow for."""


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule test by test like `--dist load`, except the `ONE_WORKER` groups.

    xdist's own `xdist_group` marker does this by renaming the test's node id, which
    pytest 9 no longer reads (its node ids are structured), so the groups are named here by
    file. Larger groups are handed out first, so the crash tests start early.
    """
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return ONE_WORKER.get(nodeid.split("::", 1)[0], nodeid)

    return Scheduling(config, log)


def _pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN, autocommit=True)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    name = f"intermodal_test_{secrets.token_hex(6)}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def backend_database(backend: str, folder: Path) -> Iterator[str]:
    """A database of `backend` for a module-scoped hub: a SQLite file in `folder`, or a
    fresh PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'hub.db'}"
        return
    with pg_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


def new_secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Build Settings through a real YAML file; secrets go through the environment."""

    def build(config: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        path = tmp_path / f"config-{secrets.token_hex(3)}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return load_config(path)

    return build


class AckReceiver:
    """A partner's EDI endpoint on loopback: keeps every document (997, CONTRL) posted to
    its `/inbound`, for the intake tests that follow an acknowledgement out."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def app(self) -> Starlette:
        async def inbound(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.bodies.append(body)
            return Response(status_code=200)

        return Starlette(routes=[Route("/inbound", inbound, methods=["POST"])])


@pytest.fixture
def acks() -> Iterator[tuple[AckReceiver, str]]:
    """An AckReceiver served on a free port, and its base URL."""
    receiver = AckReceiver()
    with serve_in_thread(receiver.app()) as url:
        yield receiver, url
