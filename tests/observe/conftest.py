"""The Odoo test server for the observability scenarios; its API key is in OBS_ODOO_KEY."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from intermodal_sim.odoo.testing import RunningSim, running_sim


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSim]:
    with running_sim() as running:
        monkeypatch.setenv("OBS_ODOO_KEY", running.api_key)
        yield running
