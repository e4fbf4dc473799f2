"""Before the pickup an ETA is planned through the pickup stop: it is shown, never sent,
scored or warned about (eta_refresh.py's docstring), even when a truck's position is known
already; from the pickup on, all three."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from sqlalchemy import select

from intermodal.config import Settings
from intermodal.foresight.eta_refresh import EtaRefresher
from intermodal.store import open_store
from intermodal.store.tables import cases
from tests.foresight.helpers import CHICAGO, DALLAS, at, foresight_config, lane_shipment, prediction
from tests.workflows.helpers import Harness, event, milestone


@pytest.fixture
def hub(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> Iterator[tuple[Harness, Settings]]:
    settings = foresight_config(make_settings, sqlite_url, eta={"change_minutes": 30})
    harness = Harness(open_store(sqlite_url), settings)
    yield harness, settings
    harness.store.dispose()


def _warnings(h: Harness) -> list[str]:
    with h.store.read() as conn:
        query = select(cases.c.subject).where(cases.c.kind == "predicted_delay")
        return [row.subject for row in conn.execute(query)]


def test_a_late_plan_warns_of_nothing_until_the_goods_are_picked_up(
    hub: tuple[Harness, Settings],
) -> None:
    h, settings = hub
    # Chicago to Dallas is about 20 h of road; the express level wants it in 30 h.
    h.send("carrier", lane_shipment("K1", "2026-11-23T08:00:00Z", CHICAGO, DALLAS),
           milestone("K1", "booked", "2026-11-23T08:00:00Z"))  # fmt: skip
    fix = {"latitude": 41.9, "longitude": -87.7, "recorded_at": "2026-11-23T23:50:00Z",
           "speed_kmh": 0.0, "accuracy_m": 8.0}  # fmt: skip
    h.send("carrier", event("position.reported", "K1", fix, "2026-11-23T23:50:00Z"))
    refresher = EtaRefresher(h.store, settings)
    for when in ("2026-11-24T00:00:00Z", "2026-11-24T00:10:00Z"):
        refresher.refresh(at(when))  # the plan arrives ~20:00, past the 14:00 deadline
    row = prediction(h, "K1")
    assert orjson.loads(row.detail)["position"]["source"] == "telematics"
    assert row.eta is not None and row.eta > row.deadline
    assert _warnings(h) == [] and row.warning_streak == 0
    assert row.first_at is None and row.published_eta is None

    h.send("carrier", milestone("K1", "picked_up", "2026-11-24T00:30:00Z", location=CHICAGO))
    refresher.refresh(at("2026-11-24T00:45:00Z"))
    row = prediction(h, "K1")
    assert _warnings(h) == ["K1"]
    assert row.first_at is not None and row.published_eta is not None
