"""An in-process hub behind Starlette's TestClient, for tests of single pages and lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intermodal.api.app import create_app
from intermodal.config import Settings

HubClient = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def hub_client(make_settings: Callable[..., Settings], sqlite_url: str) -> HubClient:
    """`with hub_client(extra_config, env) as client:` a hub on SQLite, lifespan and all."""

    @contextmanager
    def running(
        config: dict[str, Any] | None = None, env: dict[str, str] | None = None
    ) -> Iterator[TestClient]:
        settings = make_settings({"hub": {"database": sqlite_url}, **(config or {})}, env)
        with TestClient(create_app(settings, dispatch=False)) as client:
            yield client

    return running
