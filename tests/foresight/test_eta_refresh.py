"""The ETA refresh and the retraining, on a real store fed through the real applier (SQLite
and PostgreSQL): estimates stored, changed ETAs sent through the outbox only past the
threshold, a retrained model recorded and then used, and the leader's jobs behind the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from intermodal.api.app import create_app
from intermodal.config import Settings
from intermodal.engine.ids import iso
from intermodal.foresight import eta_model, history
from intermodal.foresight.eta import eta_for
from intermodal.foresight.eta_refresh import (
    EtaRefresher,
    EtaTrainer,
    delivered_history,
    observed_position,
)
from intermodal.store import Store, open_store
from intermodal.store.tables import eta_outcomes
from intermodal_sim.testing import wait_until
from tests.conftest import ADMIN
from tests.foresight.helpers import (
    CARRIER_TOKEN,
    CHICAGO,
    DALLAS,
    DENVER,
    at,
    foresight_config,
    lane_shipment,
    prediction,
    trip_events,
)
from tests.workflows.helpers import Harness, milestone

MEMPHIS = {"city": "Memphis", "country": "US"}


def _hub(make_settings: Callable[..., Settings], url: str) -> tuple[Harness, Settings]:
    settings = foresight_config(make_settings, url, eta={"change_minutes": 30})
    return Harness(open_store(url), settings), settings


@pytest.fixture
def both(make_settings: Callable[..., Settings], db_url: str) -> Iterator[tuple[Harness, Settings]]:
    """On SQLite and PostgreSQL."""
    found = _hub(make_settings, db_url)
    yield found
    found[0].store.dispose()


@pytest.fixture
def hub(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> Iterator[tuple[Harness, Settings]]:
    found = _hub(make_settings, sqlite_url)
    yield found
    found[0].store.dispose()


def start(h: Harness, key: str = "K1") -> None:
    h.send("carrier", lane_shipment(key, "2026-11-23T08:00:00Z", CHICAGO, DALLAS),
           milestone(key, "booked", "2026-11-23T08:00:00Z"),
           milestone(key, "picked_up", "2026-11-23T09:00:00Z", location=CHICAGO))  # fmt: skip


def eta_commands(h: Harness) -> list[tuple[str, str, dict]]:
    found = []
    for row in h.commands():
        payload = orjson.loads(row.payload)
        if payload.get("flow") == "foresight" or payload.get("type") == "intermodal.shipment.eta":
            found.append((row.endpoint, payload["type"], payload["data"]))
    return found


def test_each_active_shipment_gets_an_eta_and_a_changed_one_goes_out_past_the_threshold(
    both: tuple[Harness, Settings],
) -> None:
    h, settings = both
    start(h)
    refresher = EtaRefresher(h.store, settings)
    result = refresher.refresh(at("2026-11-23T09:30:00Z"))
    assert (result.estimated, result.published) == (1, 1)
    row = prediction(h, "K1")
    assert row.method == "baseline" and row.model_version is None
    detail = orjson.loads(row.detail)
    assert detail["reason"] == "baseline: no model trained yet"
    assert detail["position"] == {"source": "milestone", "at": "2026-11-23T09:00:00.000000Z",
                                  "age_seconds": 1800}  # fmt: skip
    assert detail["next_stop"]["place"] == "US:dallas"
    assert row.eta_p10 <= row.eta <= row.eta_p90 and row.published_eta == row.eta
    first = eta_commands(h)
    assert [(e, t) for e, t, _ in first] == [
        ("odoo-out", "intermodal.odoo.picking.update"),
        ("portal", "intermodal.notify"),
        ("watcher", "intermodal.shipment.eta"),
    ]
    assert first[0][2] == {"scheduled_date": row.eta}
    assert first[1][2]["event"] == "eta.changed" and first[1][2]["customer_reference"] == "PO-K1"
    assert first[2][2]["previous_eta"] is None

    # The same pass again, and a scan that moves the ETA by less than 30 minutes: nothing new.
    refresher.refresh(at("2026-11-23T09:40:00Z"))
    h.send("carrier", milestone("K1", "in_transit", "2026-11-23T09:10:00Z", location=CHICAGO))
    refresher.refresh(at("2026-11-23T09:50:00Z"))
    assert len(eta_commands(h)) == 3
    assert prediction(h, "K1").eta != row.eta  # the estimate itself did move

    # A scan at Memphis hours later: the ETA moves by more than 30 minutes and goes out.
    h.send("carrier", milestone("K1", "in_transit", "2026-11-23T21:00:00Z", location=MEMPHIS))
    refresher.refresh(at("2026-11-23T21:05:00Z"))
    after = eta_commands(h)
    assert len(after) == 6
    moved = prediction(h, "K1")
    assert after[3][2] == {"scheduled_date": moved.eta}
    assert after[5][2]["previous_eta"] == row.eta
    with h.store.read() as conn:
        read = eta_for(conn, "K1")
    assert read is not None and read["delivery"]["at"] == moved.eta
    assert read["published"]["at"] == moved.eta and read["warning"] is None


def test_an_unplaceable_shipment_says_why_and_a_delivered_one_is_dropped(
    hub: tuple[Harness, Settings],
) -> None:
    h, settings = hub
    start(h, "K1")
    h.send("carrier", lane_shipment("K2", "2026-11-23T08:00:00Z", CHICAGO,
                                    {"city": "Atlantis", "country": "ZZ"}))  # fmt: skip
    refresher = EtaRefresher(h.store, settings)
    result = refresher.refresh(at("2026-11-23T09:30:00Z"))
    assert (result.estimated, result.without_eta) == (1, 1)
    unplaced = prediction(h, "K2")
    assert unplaced.eta is None
    assert orjson.loads(unplaced.detail)["reason"] == "stop 2 (Atlantis, ZZ) cannot be placed"
    first = prediction(h, "K1")
    assert first.first_at is not None and first.first_eta == first.eta
    assert first.first_method == "baseline" and first.first_baseline_eta == first.eta
    refresher.refresh(at("2026-11-23T12:00:00Z"))  # a later estimate is not the one scored
    assert prediction(h, "K1").first_eta == first.eta
    h.send("carrier", milestone("K1", "delivered", "2026-11-24T08:00:00Z", location=DALLAS))
    result = refresher.refresh(at("2026-11-24T08:05:00Z"))
    assert result.finished == 1 and prediction(h, "K1") is None
    # The first on-road ETA is scored against the real arrival, with the baseline's.
    with h.store.read() as conn:
        scored = conn.execute(select(eta_outcomes)).all()
    assert [r.key for r in scored] == ["K1"]
    arrived = at("2026-11-24T08:00:00Z")
    expected = abs((datetime.fromisoformat(first.eta) - arrived).total_seconds()) / 60
    assert scored[0].error_min == pytest.approx(expected, abs=0.1)
    assert scored[0].baseline_error_min == scored[0].error_min  # the baseline was in use
    assert scored[0].first_method == "baseline"
    assert prediction(h, "K2") is not None  # never on the road: nothing to score
    refresher.refresh(at("2026-11-24T08:10:00Z"))
    with h.store.read() as conn:
        assert len(conn.execute(select(eta_outcomes)).all()) == 1  # scored once


def test_before_the_pickup_the_eta_is_planned_and_nothing_is_sent(
    hub: tuple[Harness, Settings],
) -> None:
    h, settings = hub
    h.send("carrier", lane_shipment("K3", "2026-11-23T08:00:00Z", CHICAGO, DENVER))
    EtaRefresher(h.store, settings).refresh(at("2026-11-23T08:30:00Z"))
    row = prediction(h, "K3")
    detail = orjson.loads(row.detail)
    assert detail["position"]["source"] == "plan" and detail["next_stop"]["place"] == "US:chicago"
    assert detail["reason"] == "baseline: not picked up yet (planned times)"
    assert row.published_eta is None and eta_commands(h) == []


def test_a_stopped_leader_writes_nothing(hub: tuple[Harness, Settings]) -> None:
    h, settings = hub
    start(h)
    EtaRefresher(h.store, settings, leads=lambda conn: False).refresh(at("2026-11-23T09:30:00Z"))
    assert prediction(h, "K1") is None and eta_commands(h) == []


def test_the_retrain_job_learns_from_delivered_shipments_and_the_refresh_uses_it(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """Simulated trips sent as a carrier would (shipment, picked_up and delivered with
    places) make the hub's history; the trainer records a version; the refresh then
    estimates with it, or says why not."""
    model = {"min_trips": 10, "max_iter": 30, "held_out": 0.25, "history_days": 3650}
    settings = foresight_config(make_settings, sqlite_url, eta={"model": model})
    store: Store = open_store(sqlite_url)
    h = Harness(store, settings)
    trips = history.simulate(48, seed=21, days=12)
    for trip in trips:
        h.send("carrier", *trip_events(trip))
    newest = max(t.delivered_at for t in trips)
    with store.read() as conn:
        found = delivered_history(conn, newest - timedelta(days=3650))
    assert len(found) == 48 and all(len(t.samples) == 1 for t in found)
    trainer = EtaTrainer(store, settings)
    assert trainer.due_in(newest) == 0
    version = trainer.train_once(newest + timedelta(hours=1))
    assert version == 1
    assert trainer.due_in(newest + timedelta(hours=2)) == pytest.approx(23 * 3600)
    with store.read() as conn:
        (record,) = eta_model.versions(conn)
    assert record["train_trips"] == 36 and record["held_out_trips"] == 12
    assert record["model_mae_min"] is not None and record["baseline_mae_min"] is not None
    beats = record["model_mae_min"] < record["baseline_mae_min"] * 0.95
    assert record["status"] == ("active" if beats else "rejected")

    picked = iso(newest + timedelta(hours=1))
    h.send("carrier", lane_shipment("LIVE", iso(newest), CHICAGO, DALLAS, "swift-line"),
           milestone("LIVE", "picked_up", picked, location=CHICAGO))  # fmt: skip
    EtaRefresher(store, settings).refresh(newest + timedelta(hours=2))
    row = prediction(h, "LIVE")
    detail = orjson.loads(row.detail)
    if beats:
        assert row.method == "model" and row.model_version == 1
        assert detail["reason"].startswith("model v1: held-out MAE")
    else:
        assert row.method == "baseline" and row.model_version is None
        assert detail["reason"].startswith("baseline: model v1 not used: does not beat")
    store.dispose()


def test_the_position_seam_reads_the_newest_placed_milestone(hub: tuple[Harness, Settings]) -> None:
    h, _ = hub
    start(h)
    h.send("carrier", milestone("K1", "in_transit", "2026-11-23T15:00:00Z", location=MEMPHIS),
           milestone("K1", "exception", "2026-11-23T16:00:00Z", reason="flat tyre"))  # fmt: skip
    with h.store.read() as conn:
        found = observed_position(conn, "K1")
        assert observed_position(conn, "NOPE") is None
    assert found is not None and found.recorded_at == at("2026-11-23T15:00:00Z")
    assert (round(found.latitude, 3), round(found.longitude, 3)) == (35.15, -90.049)


def test_the_leader_refreshes_etas_and_the_api_shows_them(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """A whole hub: the leader's eta-refresh job runs, `GET /v1/shipments/{key}` carries the
    ETA and `/eta` answers it within the reader's boundary, 404 for a shipment that does
    not exist, 401 without credentials."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    settings = foresight_config(
        make_settings, url, eta={"refresh_seconds": 1, "model": {"enabled": False}}
    )
    carrier = {"authorization": f"Bearer {CARRIER_TOKEN}"}
    with TestClient(create_app(settings, dispatch=False)) as client:
        events = [
            lane_shipment("API-1", "2026-11-23T08:00:00Z", CHICAGO, DALLAS),
            milestone("API-1", "picked_up", "2026-11-23T09:00:00Z", location=CHICAGO),
        ]
        assert client.post("/v1/events", json=events, headers=carrier).status_code == 202

        def shown() -> bool:
            answer = client.get("/v1/shipments/API-1/eta", headers=ADMIN)
            return answer.status_code == 200 and answer.json()["eta"] is not None

        wait_until(shown, timeout=20)
        whole = client.get("/v1/shipments/API-1", headers=ADMIN).json()
        assert whole["eta"]["method"] == "baseline"
        assert whole["eta"]["delivery"]["p10"] <= whole["eta"]["delivery"]["at"]
        assert whole["eta"]["next_stop"]["place"] == "US:dallas"
        mine = client.get("/v1/shipments/API-1/eta", headers=carrier)  # it reported on it
        assert mine.status_code == 200 and mine.json()["eta"]["method"] == "baseline"
        assert client.get("/v1/shipments/NOPE/eta", headers=ADMIN).status_code == 404
        assert client.get("/v1/shipments/API-1/eta").status_code == 401
        hostile = ["x" * 10_000, "\x00", "API-1\x00", "../API-1", "API-1' OR '1'='1", "é" * 200,
                   "%00", "API-1/eta"]  # fmt: skip
        for key in hostile:
            answer = client.get(f"/v1/shipments/{quote(key, safe='')}/eta", headers=ADMIN)
            # 404 as for any shipment that is not there; a NUL is refused at the door (400)
            assert answer.status_code in (400, 404), (key, answer.status_code)
