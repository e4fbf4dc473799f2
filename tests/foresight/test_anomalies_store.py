"""Anomaly cases in a real store: read from what the hub holds, opened once, kept up to
date, closed when normal again, and not reopened after a person closed one that goes on.

One stream of the simulator's world is written into the store as a running hub would have
it (inbox, events, shipments), on SQLite and on PostgreSQL; the last test feeds a hub
through its real applier instead, to show the reader reads what the applier writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select

from intermodal.config import AnomaliesConfig, Settings
from intermodal.dashboard.pages.cases import _close
from intermodal.engine.ids import iso, utcnow
from intermodal.foresight.anomalies import AnomalyWatch, HistoryReader
from intermodal.store import open_store
from intermodal.store.tables import anomaly_state, cases, inbox
from intermodal_sim.anomaly_streams import PARTNERS, inbox_row, load, stream
from tests.conftest import new_secret
from tests.workflows.helpers import Harness, at, milestone, shipment

FORESIGHT = {
    "anomalies": {"min_history_hours": 12, "bursts": {"min_windows": 12}},
    "classify": {"enabled": False},
}
DAYS = 1.25
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def _settings(make_settings: Callable[..., Settings], db_url: str, **extra: Any) -> Settings:
    partners = {name: {"kind": "carrier", "webhook_secrets": [f"env:{name.upper()}_S"]}
                for name in PARTNERS}  # fmt: skip
    env = {f"{name.upper()}_S": new_secret() for name in PARTNERS}
    config = {"hub": {"database": db_url}, "partners": partners, "foresight": FORESIGHT, **extra}
    return make_settings(config, env=env)


def _anomaly_cases(store: Any) -> list[Any]:
    with store.read() as conn:
        return list(
            conn.execute(select(cases).where(cases.c.kind == "anomaly").order_by(cases.c.seq))
        )


def test_a_planted_quiet_partner_opens_one_case_that_closes_when_it_writes_again(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    s = next(
        s for seed in range(20) if (s := stream(seed, days=DAYS, plant=["quiet"], now=NOW)).planted
    )
    (plant,) = s.planted
    settings = _settings(make_settings, db_url)
    store = open_store(db_url)
    load(store, s)
    watch = AnomalyWatch(store, settings)

    first = watch.run_once(NOW)
    assert first.recorded.opened == [plant.key]
    (case,) = _anomaly_cases(store)
    detail = orjson.loads(case.detail)
    assert (case.subject, case.status, case.team) == (plant.subject, "open", "operations")
    assert detail["detector"] == "quiet" and detail["score"] > 1
    assert case.reason == detail["explanation"]

    again = watch.run_once(NOW + timedelta(seconds=30))
    assert again.recorded.opened == [] and again.recorded.updated == [plant.key]
    assert len(_anomaly_cases(store)) == 1

    partner = plant.subject.removeprefix("partner:")
    with store.write() as conn:  # it writes again
        conn.execute(
            insert(inbox).values(inbox_row(partner, "back", NOW + timedelta(seconds=40), b"[]"))
        )
    cleared = watch.run_once(NOW + timedelta(seconds=60))
    assert cleared.recorded.closed == [plant.key]
    (case,) = _anomaly_cases(store)
    assert case.status == "closed" and "cleared_at" in orjson.loads(case.detail)
    with store.read() as conn:
        assert conn.execute(select(anomaly_state.c.key)).scalars().all() == []
    store.dispose()


def test_a_case_a_person_closed_is_not_reopened_while_the_anomaly_goes_on(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    s = stream(1, days=DAYS, plant=["dwell"], now=NOW)
    (plant,) = s.planted
    settings = _settings(make_settings, sqlite_url)
    store = open_store(sqlite_url)
    load(store, s)
    watch = AnomalyWatch(store, settings)
    assert watch.run_once(s.now).recorded.opened == [plant.key]
    (case,) = _anomaly_cases(store)
    assert _close(store, case.case_id, "tower:olga", "known, carrier informed")

    later = watch.run_once(s.now + timedelta(minutes=5))
    assert later.recorded.opened == [] and later.recorded.updated == []
    assert [c.status for c in _anomaly_cases(store)] == ["closed"]
    with store.read() as conn:  # still remembered as going on
        assert conn.execute(select(anomaly_state.c.key)).scalars().all() == [plant.key]
    store.dispose()


def test_the_reader_reads_what_the_applier_wrote(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """A hub fed through its real applier: the partner's messages, its milestones and the
    shipment's lane (from its stops) are what the detectors see; with a day of history
    required, a partner of a few minutes raises nothing, and with none required, its
    silence is raised."""
    config = {
        "hub": {"database": sqlite_url},
        "partners": {"carrier": {"kind": "carrier", "webhook_secrets": ["env:CARRIER_S"]}},
        "workflows": {},
    }
    settings = make_settings(config, env={"CARRIER_S": new_secret()})
    store = open_store(sqlite_url)
    harness = Harness(store, settings)
    for i in range(6):
        harness.send("carrier", shipment(f"S{i}"), milestone(f"S{i}", "picked_up", at(9, i)))
    reader = HistoryReader(store, settings.partners, AnomaliesConfig())
    later = utcnow() + timedelta(hours=2)
    history = reader.read(later)
    assert len(history.received["carrier"]) == 6
    assert {(r.subject, r.milestone) for r in history.reports} == {
        (f"S{i}", "picked_up") for i in range(6)
    }
    assert history.lanes == {f"S{i}": "US>US" for i in range(6)}
    assert {a.key for a in history.active} == {f"S{i}" for i in range(6)}

    strict = {"foresight": {"classify": {"enabled": False}}}
    watch = AnomalyWatch(
        store, make_settings({**config, **strict}, env={"CARRIER_S": new_secret()})
    )
    assert watch.run_once(later).findings == []  # a few minutes of history: no usual yet
    lenient = {"foresight": {"anomalies": {"min_history_hours": 0, "quiet": {
        "min_messages": 5, "min_expected": 0, "min_gap_minutes": 30}}}}  # fmt: skip
    watch = AnomalyWatch(
        store, make_settings({**config, **lenient}, env={"CARRIER_S": new_secret()})
    )
    (finding,) = watch.run_once(later).findings
    assert finding.key == "quiet:partner:carrier"
    assert finding.explanation.startswith("partner carrier sent 0 messages in 2.0 h")
    store.dispose()


@pytest.mark.parametrize("section", [None, {"anomalies": {"enabled": False}, "classify": {}}])
async def test_the_leader_runs_the_jobs_the_foresight_section_turns_on(
    make_settings: Callable[..., Settings], sqlite_url: str, section: dict[str, Any] | None
) -> None:
    from intermodal.hub import Hub
    from intermodal.store.leases import Lease

    config: dict[str, Any] = {"hub": {"database": sqlite_url}}
    if section is not None:
        config["foresight"] = section
    hub = Hub.create(make_settings(config))
    lease = Lease("leader", "me", 1, iso(utcnow() + timedelta(seconds=10)), 10.0)
    names = [name for name, _ in hub._singleton_jobs(lease)]
    expected = [] if section is None else ["classify"]
    assert [n for n in names if n in ("anomalies", "classify")] == expected
    hub.store.dispose()
