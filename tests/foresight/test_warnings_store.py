"""predicted_delay cases on a real store: opened before the SLA breach with their evidence,
told to Odoo and the customers through the outbox, closed when the prediction recovers,
when the shipment is delivered, or when the deadline passes; a case a person closed is not
opened again while the prediction stays late."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from sqlalchemy import update

from intermodal.config import Settings
from intermodal.foresight.eta_refresh import EtaRefresher
from intermodal.store import open_store
from intermodal.store.tables import cases
from intermodal.workflows.timers import TimerWorker
from tests.foresight.helpers import CHICAGO, DALLAS, at, foresight_config, lane_shipment, prediction
from tests.workflows.helpers import Harness, milestone

DEADLINE = "2026-11-24T14:00:00.000000Z"  # booked 08:00 + the express level's 30 h


def started(h: Harness, key: str) -> None:
    h.send("carrier", lane_shipment(key, "2026-11-23T08:00:00Z", CHICAGO, DALLAS),
           milestone(key, "booked", "2026-11-23T08:00:00Z"),
           milestone(key, "picked_up", "2026-11-23T09:00:00Z", location=CHICAGO))  # fmt: skip


def stuck(h: Harness, key: str) -> None:
    """A scan still at Chicago at 20:00: a day's drive from Dallas, p10 well past 14:00."""
    h.send("carrier", milestone(key, "in_transit", "2026-11-23T20:00:00Z", location=CHICAGO))


def notices(h: Harness, subject: str) -> list[tuple[str, str, dict]]:
    found = []
    for row in h.commands(subject=subject):
        payload = orjson.loads(row.payload)
        if payload.get("flow") == "foresight" or payload["type"].startswith("intermodal.case."):
            found.append((row.endpoint, payload["type"], payload["data"]))
    return found


def delays(h: Harness, key: str) -> list:
    return [c for c in h.cases(key) if c.kind == "predicted_delay"]


def _hub(make_settings: Callable[..., Settings], url: str) -> tuple[Harness, EtaRefresher]:
    settings = foresight_config(make_settings, url, warnings={"open_after": 1, "close_after": 2})
    settings.workflows.teams["predicted_delay"] = "control-tower"  # type: ignore[union-attr,index]
    store = open_store(url)
    return Harness(store, settings), EtaRefresher(store, settings)


@pytest.fixture
def both(
    make_settings: Callable[..., Settings], db_url: str
) -> Iterator[tuple[Harness, EtaRefresher]]:
    """On SQLite and PostgreSQL."""
    found = _hub(make_settings, db_url)
    yield found
    found[0].store.dispose()


@pytest.fixture
def hub(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> Iterator[tuple[Harness, EtaRefresher]]:
    found = _hub(make_settings, sqlite_url)
    yield found
    found[0].store.dispose()


def test_a_predicted_delay_opens_before_the_breach_and_closes_when_it_recovers(
    both: tuple[Harness, EtaRefresher],
) -> None:
    h, refresher = both
    started(h, "K1")
    refresher.refresh(at("2026-11-23T09:30:00Z"))
    assert delays(h, "K1") == [] and prediction(h, "K1").deadline == DEADLINE

    stuck(h, "K1")
    result = refresher.refresh(at("2026-11-23T20:30:00Z"))  # 17.5 h before the deadline
    assert result.opened == 1
    (case,) = delays(h, "K1")
    assert case.status == "open" and case.team == "control-tower"
    assert case.opened_at < DEADLINE
    evidence = orjson.loads(case.detail)
    assert evidence["deadline"] == DEADLINE and evidence["confidence"] == "p10"
    assert evidence["p10"] > DEADLINE and evidence["eta"] > evidence["p10"]
    assert evidence["method"] == "baseline" and evidence["model_version"] is None
    assert evidence["position"] == {"source": "milestone", "at": "2026-11-23T20:00:00.000000Z",
                                    "age_seconds": 1800}  # fmt: skip
    assert prediction(h, "K1").warning_case_id == case.case_id
    sent = [(e, t) for e, t, d in notices(h, "K1") if d.get("case_id") == case.case_id
            or t == "intermodal.odoo.activity.create"]  # fmt: skip
    assert sent == [
        ("odoo-out", "intermodal.odoo.activity.create"),
        ("portal", "intermodal.notify"),
        ("watcher", "intermodal.case.opened"),
    ]

    refresher.refresh(at("2026-11-23T20:40:00Z"))  # still late: the same one case
    assert len(delays(h, "K1")) == 1 and len(h.cases("K1")) == 1

    h.send("carrier", milestone("K1", "out_for_delivery", "2026-11-24T11:00:00Z",
                                location=DALLAS))  # fmt: skip
    assert refresher.refresh(at("2026-11-24T11:05:00Z")).closed == 0  # once is not enough
    assert refresher.refresh(at("2026-11-24T11:10:00Z")).closed == 1
    (case,) = delays(h, "K1")
    assert case.status == "closed"
    assert orjson.loads(case.detail)["closed_because"].startswith("recovered: ETA")
    kinds = [(e, t, d.get("event")) for e, t, d in notices(h, "K1")][-2:]
    assert kinds == [("portal", "intermodal.notify", "delay.cleared"),
                     ("watcher", "intermodal.case.closed", None)]  # fmt: skip
    assert prediction(h, "K1").warning_case_id is None


def test_delivery_and_a_passed_deadline_close_the_warning(
    hub: tuple[Harness, EtaRefresher],
) -> None:
    h, refresher = hub
    for key in ("DLV", "LATE"):
        started(h, key)
        stuck(h, key)
    refresher.refresh(at("2026-11-23T20:30:00Z"))
    assert len(delays(h, "DLV")) == len(delays(h, "LATE")) == 1

    h.send("carrier", milestone("DLV", "delivered", "2026-11-24T16:00:00Z", location=DALLAS))
    TimerWorker(h.store).fire_due(at("2026-11-24T14:01:00Z"))  # LATE's SLA timer fires
    h.apply()
    assert [c.kind for c in h.cases("LATE")] == ["predicted_delay", "sla_breach"]
    refresher.refresh(at("2026-11-24T14:05:00Z"))
    (delivered,) = delays(h, "DLV")
    assert delivered.status == "closed" and prediction(h, "DLV") is None
    assert orjson.loads(delivered.detail)["closed_because"] == "the shipment is delivered"
    (late,) = delays(h, "LATE")
    assert late.status == "closed"
    assert orjson.loads(late.detail)["closed_because"].startswith("the deadline passed")


def test_a_case_a_person_closed_stays_closed_while_the_prediction_stays_late(
    hub: tuple[Harness, EtaRefresher],
) -> None:
    h, refresher = hub
    started(h, "K3")
    stuck(h, "K3")
    refresher.refresh(at("2026-11-23T20:30:00Z"))
    with h.store.write() as conn:  # what the control tower's "close" does
        conn.execute(update(cases).values(status="closed", closed_at="2026-11-23T20:35:00Z"))
    refresher.refresh(at("2026-11-23T20:40:00Z"))
    refresher.refresh(at("2026-11-23T20:50:00Z"))
    assert len(delays(h, "K3")) == 1
    h.send("carrier", milestone("K3", "out_for_delivery", "2026-11-24T11:00:00Z",
                                location=DALLAS))  # fmt: skip
    refresher.refresh(at("2026-11-24T11:05:00Z"))
    refresher.refresh(at("2026-11-24T11:10:00Z"))
    assert prediction(h, "K3").warning_case_id is None  # forgotten: a new delay may warn again


def test_warnings_can_be_turned_off(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = foresight_config(make_settings, sqlite_url, warnings={"enabled": False})
    store = open_store(sqlite_url)
    h = Harness(store, settings)
    started(h, "OFF")
    stuck(h, "OFF")
    EtaRefresher(store, settings).refresh(at("2026-11-23T20:30:00Z"))
    assert delays(h, "OFF") == [] and prediction(h, "OFF").eta is not None
    store.dispose()
