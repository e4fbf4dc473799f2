"""The exception classifier in a real store, fed by the real flows, and in a running hub's
control tower: a carrier's exception opens a case (the exceptions flow), the leader's job
suggests its kind, owner and next step, people close cases with their final kind, and the
model trained on those decides once it beats the rules."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert, select

from intermodal.config import Settings
from intermodal.dashboard.pages.cases import _close
from intermodal.engine.ids import iso, utcnow
from intermodal.foresight.classify import ExceptionClassifier, held_out
from intermodal.store import Store, open_store
from intermodal.store.tables import case_classifications, cases, classifier_models
from intermodal_sim.exception_texts import texts
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import new_secret
from tests.workflows.helpers import Harness, at, milestone, shipment

CLASSIFY = {"min_training_cases": 60, "retrain_hours": 24}


def _config(db_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "hub": {"database": db_url},
        "partners": {"carrier": {"kind": "carrier", "webhook_secrets": ["env:CARRIER_S"]}},
        "workflows": {},
        "foresight": {"anomalies": {"enabled": False}, "classify": CLASSIFY},
        **extra,
    }


def _suggestions(store: Store) -> dict[str, Any]:
    with store.read() as conn:
        return {r.case_id: r for r in conn.execute(select(case_classifications))}


def _closed_cases(store: Store, n: int, seed: int, shuffle_kinds: bool = False) -> None:
    """Cases the exceptions flow opened (their detail as the flow writes it), then closed
    by a person in the tower with the kind they really were."""
    labelled = texts(seed, n)
    kinds = [t.kind for t in labelled]
    if shuffle_kinds:  # the training cases' kinds are noise, the held-out ones right
        training = [i for i in range(n) if not held_out(f"case-{seed}-{i}", 0.25)]
        noise = [kinds[i] for i in training]
        random.Random(seed).shuffle(noise)
        for i, kind in zip(training, noise, strict=True):
            kinds[i] = kind
    now = utcnow() - timedelta(days=1)
    rows = []
    for i, t in enumerate(labelled):
        data = {"milestone": t.milestone, "occurred_at": iso(now), "reason": t.text}
        detail = {"flow": "exceptions", "trigger": f"milestone.{t.milestone}",
                  "partner": t.carrier, "data": data}  # fmt: skip
        rows.append(
            {
                "case_id": f"case-{seed}-{i}",
                "subject": f"S-{seed}-{i}",
                "kind": "delivery_failed"
                if t.milestone == "delivery_failed"
                else "carrier_exception",
                "team": "operations",
                "status": "open",
                "reason": f"carrier exception: {t.text}",
                "opened_at": iso(now + timedelta(seconds=i)),
                "detail": orjson.dumps(detail).decode(),
            }
        )
    with store.write() as conn:
        conn.execute(insert(cases), rows)
    for row, kind in zip(rows, kinds, strict=True):
        assert _close(store, row["case_id"], "tower:olga", "", kind)


def test_an_exception_from_the_flows_gets_a_suggestion_from_the_rules(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(_config(db_url), env={"CARRIER_S": new_secret()})
    store = open_store(db_url)
    harness = Harness(store, settings)
    reason = "Clearance delay - missing commercial invoice"
    harness.send("carrier", shipment("S1"), milestone("S1", "exception", at(10), reason=reason))
    harness.send("carrier", shipment("S2"), milestone("S2", "delivery_failed", at(11)))
    (customs, failed) = harness.cases()
    assert customs.kind == "carrier_exception" and failed.kind == "delivery_failed"

    classifier = ExceptionClassifier(store, settings)
    run = classifier.run_once()
    assert run.classified == 2
    assert run.trained is not None and run.trained.model is None  # nothing closed yet
    found = _suggestions(store)
    assert found[customs.case_id].kind == "customs_hold"
    assert found[customs.case_id].team == "customs"
    assert found[customs.case_id].decided_by == "rule:keyword:customs_documents"
    assert "commercial invoice" in found[customs.case_id].next_step
    assert found[failed.case_id].decided_by == "rule:case-kind"  # no reason given
    assert found[failed.case_id].kind == "delivery_failed"
    assert classifier.run_once().classified == 0  # each case once
    store.dispose()


def test_the_model_trained_on_closed_cases_decides_and_a_new_leader_trains_the_same(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = make_settings(_config(sqlite_url), env={"CARRIER_S": new_secret()})
    store = open_store(sqlite_url)
    _closed_cases(store, 320, seed=5)
    harness = Harness(store, settings)
    harness.send("carrier", shipment("S9"),
                 milestone("S9", "exception", at(9), reason="Zollpapiere fehlen"))  # fmt: skip
    (case,) = [c for c in harness.cases() if c.status == "open"]

    classifier = ExceptionClassifier(store, settings)
    run = classifier.run_once()
    assert run.trained is not None and run.trained.active
    assert run.trained.model_accuracy > run.trained.rules_accuracy
    with store.read() as conn:
        (trained,) = conn.execute(select(classifier_models)).all()
    assert trained.active == 1 and trained.cases + trained.holdout == 320
    suggestion = _suggestions(store)[case.case_id]
    assert suggestion.decided_by == f"model:{trained.model_id}"
    assert suggestion.kind in settings.foresight.classify.labels  # type: ignore[union-attr]

    successor = ExceptionClassifier(store, settings)  # another node took the lease
    successor.load()
    assert successor.model is not None and successor.model.model_id == trained.model_id
    item = [("x", "Colis endommagé"), ("y", "Adresse erronée"), ("z", "BS")]
    from intermodal.foresight.classify import ExceptionText

    items = [ExceptionText(t, "exception", "eurofret") for _, t in item]
    assert classifier.model is not None
    assert successor.model.predict(items) == classifier.model.predict(items)
    assert not successor.due(utcnow())
    store.dispose()


def test_a_model_no_better_than_the_rules_is_recorded_and_not_used(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = make_settings(_config(sqlite_url), env={"CARRIER_S": new_secret()})
    store = open_store(sqlite_url)
    _closed_cases(store, 200, seed=6, shuffle_kinds=True)  # people's kinds are noise
    classifier = ExceptionClassifier(store, settings)
    run = classifier.run_once()
    assert run.trained is not None and not run.trained.active and classifier.model is None
    with store.read() as conn:
        (trained,) = conn.execute(select(classifier_models)).all()
    assert trained.active == 0 and trained.rules_accuracy > trained.model_accuracy
    store.dispose()


OPERATOR = ("olga", "operator-password-0123")


@pytest.fixture
def tower(tmp_path: Path, make_settings: Callable[..., Settings], sqlite_url: str) -> Any:
    (tmp_path / "olga.password").write_text(OPERATOR[1])
    password = f"file:{tmp_path / 'olga.password'}"
    tower = {"users": {OPERATOR[0]: {"role": "operator", "password": password}}}
    config = _config(sqlite_url, tower=tower)
    config["foresight"]["classify"] = {**CLASSIFY, "interval_seconds": 0.2}
    settings = make_settings(config, env={"CARRIER_S": new_secret()})
    with running_hub(settings) as url:
        yield url, settings


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_the_tower_shows_the_suggestion_and_takes_the_final_kind(tower: Any) -> None:
    url, settings = tower
    store = open_store(settings.hub.database)
    harness = Harness(store, settings)
    harness.send("carrier", shipment("S1"),
                 milestone("S1", "exception", at(10), reason="AT7*SD*AS"))  # fmt: skip
    (case,) = harness.cases()
    wait_until(lambda: case.case_id in _suggestions(store), timeout=60)

    client = httpx.Client(base_url=url, timeout=30)
    login = client.get("/tower/login")
    form = {"username": OPERATOR[0], "password": OPERATOR[1], "csrf": _csrf(login.text),
            "next": "/tower/"}  # fmt: skip
    answer = client.post("/tower/login", data=form)
    assert answer.status_code == 303
    page = client.get("/tower/cases")
    assert "suggested: <b>customs hold</b> (customs documents) for customs" in page.text
    assert "decided by rule:at7:AS" in page.text
    assert '<option value="customs_hold" selected>' in page.text
    csrf = _csrf(page.text)
    refused = client.post(f"/tower/cases/{case.case_id}/close",
                          data={"csrf": csrf, "final_kind": "<script>"})  # fmt: skip
    assert refused.status_code == 303
    with store.read() as conn:
        assert conn.execute(select(cases.c.status)).scalar() == "open"
    closed = client.post(f"/tower/cases/{case.case_id}/close",
                         data={"csrf": csrf, "final_kind": "customs_hold"})  # fmt: skip
    assert closed.status_code == 303
    with store.read() as conn:
        row = conn.execute(select(cases.c.status, cases.c.final_kind)).one()
    assert tuple(row) == ("closed", "customs_hold")
    store.dispose()
