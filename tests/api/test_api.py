"""The HTTP API over real loopback HTTP: ingress, reads, errors, admin, hostile input."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from intermodal.config import Settings
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import open_store
from intermodal.store.tables import dead_letters, inbox
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import new_secret, pg_database

ADMIN = {"authorization": "Bearer admin-token-0123456789-0123456789"}


class Hub:
    def __init__(self, url: str, secret: str, settings: Settings) -> None:
        self.url = url
        self.key = webhook_key(Secret(secret))
        self.client = httpx.Client(base_url=url, timeout=30)
        self.settings = settings
        self.store = open_store(settings.hub.database, migrate=False)

    def webhook(
        self,
        body: bytes,
        msg_id: str = "m1",
        partner: str = "acme",
        ts: int | None = None,
        **headers: str,
    ) -> httpx.Response:
        ts = ts or int(time.time())
        h = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.key, msg_id, ts, body),
            **headers,
        }
        raw = {k: v.encode("utf-8") for k, v in h.items()}  # hostile ids may be non-ASCII
        return self.client.post(f"/v1/webhooks/{partner}", content=body, headers=raw)

    def inbox_rows(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


def event(
    event_id: str = "evt-1",
    subject: str = "SHP-1",
    milestone: str = "picked_up",
    at: str = "2026-11-23T10:00:00Z",
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "acme",
        "type": "intermodal.shipment.milestone",
        "subject": subject,
        "time": at,
        "datacontenttype": "application/json",
        "data": {"milestone": milestone, "occurred_at": at},
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub per backend for the whole module: every API test runs on both stores."""
    with contextlib.ExitStack() as stack:
        folder = tmp_path_factory.mktemp("api")
        database = (
            f"sqlite:///{folder / 'hub.db'}"
            if request.param == "sqlite"
            else stack.enter_context(pg_database())
        )
        yield from _hub(folder, database)


def _hub(folder: Path, database: str) -> Iterator[Hub]:
    import yaml

    from intermodal.config import load_config

    secret = new_secret()
    (folder / "acme.secret").write_text(secret)
    (folder / "tms.token").write_text("tms-token-0123456789-0123456789-tms")
    (folder / "ro.token").write_text("readonly-token-0123456789-0123456789")
    (folder / "admin.token").write_text("admin-token-0123456789-0123456789")
    config = {
        "hub": {
            "database": database,
            "admin_token": "file:admin.token",
            "max_body_bytes": 262144,
        },
        "partners": {
            "acme": {"webhook_secrets": ["file:acme.secret"], "owns": ["picked_up", "delivered"]},
            "tms": {"tokens": [{"token": "file:tms.token"}], "owns": ["booked"]},
            "viewer": {"tokens": [{"token": "file:ro.token", "scopes": ["shipments:read"]}]},
        },
        "endpoints": {"portal": {"url": "http://127.0.0.1:9/unreachable"}},
        # The breaker never opens: while it is open, failed trials cost no attempt and a
        # replayed command would wait for the endpoint instead of dead-lettering again.
        "delivery": {"max_attempts": 1, "breaker_failures": 1000},
    }
    (folder / "c.yaml").write_text(yaml.safe_dump(config))
    settings = load_config(folder / "c.yaml")
    with running_hub(settings) as url:
        h = Hub(url, secret, settings)
        yield h
        h.client.close()
        h.store.dispose()


def test_public_contract_webhook_to_shipment_and_timeline(hub: Hub) -> None:
    body = orjson.dumps(event("c-1", "CONTRACT-1"))
    r = hub.webhook(body, "contract-1")
    assert r.status_code == 202, r.text
    receipt = r.json()["receipt_id"]
    again = hub.webhook(body, "contract-1")
    assert (
        again.status_code == 200
        and again.json()["receipt_id"] == receipt
        and again.json()["duplicate"]
    )

    wait_until(lambda: hub.client.get("/v1/shipments/CONTRACT-1", headers=ADMIN).status_code == 200)
    shipment = hub.client.get("/v1/shipments/CONTRACT-1", headers=ADMIN).json()
    assert (
        shipment["key"] == "CONTRACT-1"
        and shipment["state"] == "picked_up"
        and shipment["updated_at"]
    )
    timeline = hub.client.get("/v1/shipments/CONTRACT-1/timeline", headers=ADMIN).json()
    assert [
        {
            k: e[k]
            for k in ("id", "milestone", "occurred_at", "source", "late", "duplicate", "violation")
        }
        for e in timeline
    ] == [
        {
            "id": "c-1",
            "milestone": "picked_up",
            "occurred_at": "2026-11-23T10:00:00.000000Z",
            "source": "acme",
            "late": False,
            "duplicate": False,
            "violation": False,
        }
    ]
    got = hub.client.get(f"/v1/receipts/{receipt}", headers=ADMIN).json()
    assert got["status"] == "applied" and got["events"] == [
        {"id": "c-1", "subject": "CONTRACT-1", "outcome": "applied"}
    ]


def test_batch_gives_a_result_per_event(hub: Hub) -> None:
    events = [event(f"b-{i}", f"BATCH-{i % 3}", "booked") for i in range(20)]
    events[5] = {**events[5], "time": "not a time"}
    events.append(events[0])
    r = hub.client.post(
        "/v1/events",
        json=events,
        headers={"authorization": "Bearer tms-token-0123456789-0123456789-tms"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (19, 1, 1)
    assert (
        body["results"][5]["status"] == "rejected"
        and body["results"][5]["errors"][0]["loc"] == "5.time"
    )
    assert body["results"][20]["status"] == "duplicate"
    tms = {"authorization": "Bearer tms-token-0123456789-0123456789-tms"}
    wait_until(lambda: hub.client.get("/v1/shipments/BATCH-2", headers=tms).status_code == 200)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": "Basic dG1zOng="}, 401),
        ({"authorization": "Bearer readonly-token-0123456789-0123456789"}, 403),
    ],
)
def test_batch_requires_a_scoped_token(hub: Hub, headers: dict[str, str], status: int) -> None:
    r = hub.client.post("/v1/events", json=[event()], headers=headers)
    assert r.status_code == status and r.json()["error"]["message"]


def test_parties_only_to_those_who_may_read_the_shipment(hub: Hub) -> None:
    upsert = {
        **event("u-1", "PII-1"),
        "type": "intermodal.shipment.upserted",
        "data": {
            "key": "PII-1",
            "parties": [{"role": "consignee", "name": "Ada", "email": "ada@example.com"}],
        },
    }
    assert hub.webhook(orjson.dumps(upsert), "pii-1").status_code == 202
    wait_until(lambda: hub.client.get("/v1/shipments/PII-1", headers=ADMIN).status_code == 200)
    anonymous = hub.client.get("/v1/shipments/PII-1")
    assert anonymous.status_code == 401 and "ada@example.com" not in anonymous.text
    # A read token of a partner that never took part in PII-1: as if it did not exist.
    stranger = hub.client.get(
        "/v1/shipments/PII-1",
        headers={"authorization": "Bearer readonly-token-0123456789-0123456789"},
    )
    assert stranger.status_code == 404 and "ada@example.com" not in stranger.text
    full = hub.client.get("/v1/shipments/PII-1", headers=ADMIN).json()
    assert full["shipment"]["parties"][0]["email"] == "ada@example.com"


def test_error_statuses_name_the_problem(hub: Hub) -> None:
    before = hub.inbox_rows()
    good = orjson.dumps(event("err-1", "ERR-1"))
    cases = [
        (hub.webhook(good, partner="nobody"), 401),  # as an unsigned request to a partner
        (hub.webhook(good, "e-415", **{"content-type": "text/plain"}), 415),
        (hub.webhook(b"{not json", "e-400"), 400),
        (hub.webhook(orjson.dumps({**event(), "time": "yesterday"}), "e-422"), 422),
        (hub.webhook(good, "e-401", **{"webhook-signature": "v1,AAAA"}), 401),
        (hub.webhook(good, "e-old", ts=int(time.time()) - 3600), 401),
        (hub.webhook(b"[" + b",".join([good] * 3000) + b"]", "e-413"), 413),
        (hub.client.get("/v1/shipments/NOPE"), 401),
        (hub.client.get("/v1/shipments/NOPE", headers=ADMIN), 404),
        (hub.client.get("/v1/receipts/rcpt_nope", headers=ADMIN), 404),
        (hub.client.delete("/v1/events"), 405),
    ]
    for response, status in cases:
        assert response.status_code == status, (status, response.text)
        assert response.json()["error"]["message"]
    assert hub.inbox_rows() == before
    assert hub.webhook(good, "e-ok").status_code == 202
    conflict = hub.webhook(orjson.dumps(event("err-2", "ERR-1")), "e-ok")
    assert conflict.status_code == 409
    assert hub.inbox_rows() == before + 1


def test_secrets_never_appear_in_responses(hub: Hub) -> None:
    r = hub.webhook(b"{}", "leak", **{"webhook-signature": "v1,xyz"})
    assert "whsec_" not in r.text and "admin-token" not in r.text


def test_health_and_openapi(hub: Hub) -> None:
    assert hub.client.get("/healthz").json() == {"status": "ok"}
    ready = hub.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["workers"] == {
        "committer": True,
        "applier": True,
        "dispatcher": True,
    }
    paths = hub.client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/webhooks/{partner}",
        "/v1/events",
        "/v1/shipments/{key}",
        "/v1/shipments/{key}/timeline",
        "/v1/receipts/{receipt_id}",
    } <= set(paths)


def test_admin_dead_letters_list_show_replay(hub: Hub) -> None:
    admin = ADMIN
    assert hub.client.get("/v1/admin/dead-letters").status_code == 401
    assert (
        hub.client.get(
            "/v1/admin/dead-letters",
            headers={"authorization": "Bearer tms-token-0123456789-0123456789-tms"},
        ).status_code
        == 401
    )
    assert hub.webhook(orjson.dumps(event("dl-1", "DL-1")), "dl-1").status_code == 202
    # The portal endpoint is unreachable and max_attempts is 1: the command dead-letters.
    wait_until(lambda: hub.client.get("/v1/admin/dead-letters", headers=admin).json()["total"] >= 1)
    listing = hub.client.get(
        "/v1/admin/dead-letters", headers=admin, params={"endpoint": "portal"}
    ).json()
    command_id = listing["items"][0]["command_id"]
    shown = hub.client.get(f"/v1/admin/dead-letters/{command_id}", headers=admin).json()
    assert orjson.loads(shown["payload"])["id"] == command_id
    assert (
        hub.client.post("/v1/admin/dead-letters/replay", json={}, headers=admin).status_code == 422
    )
    replayed = hub.client.post(
        "/v1/admin/dead-letters/replay", json={"ids": [command_id]}, headers=admin
    )
    assert replayed.json() == {"replayed": 1}
    # It leaves the list, fails again (still unreachable) and comes back with the same id.
    wait_until(
        lambda: (
            command_id
            in [
                i["command_id"]
                for i in hub.client.get("/v1/admin/dead-letters", headers=admin).json()["items"]
            ]
        )
    )
    with hub.store.read() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(dead_letters)
                .where(dead_letters.c.command_id == command_id)
            ).scalar_one()
            == 1
        )


# -- hostile input: never a 5xx, never a partial row -------------------------------------------

hostile_bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(str.encode),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=10), children, max_size=5)
        ),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda e, k, v: json.dumps({**e, k: v}).encode(),
        st.just(event()),
        st.sampled_from(list(event())),
        st.text(max_size=30) | st.integers() | st.none(),
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=hostile_bodies,
    signed=st.booleans(),
    msg_id=st.text(min_size=1, max_size=30).filter(lambda s: s.isprintable()),
)
def test_any_bytes_to_the_webhook_get_2xx_or_4xx_and_no_partial_rows(
    hub: Hub, body: bytes, signed: bool, msg_id: str
) -> None:
    before = hub.inbox_rows()
    headers = {} if signed else {"webhook-signature": "v1,bm9wZQ=="}
    try:
        r = hub.webhook(body, "fz-" + msg_id, **headers)
    except httpx.LocalProtocolError:
        return  # httpx refuses to send such a header at all: nothing reached the hub
    assert r.status_code < 500, r.text
    assert r.json()["error"]["message"] if r.status_code >= 400 else r.json()["receipt_id"]
    after = hub.inbox_rows()
    assert after == before + (1 if r.status_code == 202 else 0)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=hostile_bodies)
def test_any_bytes_to_the_batch_endpoint_get_2xx_or_4xx(hub: Hub, body: bytes) -> None:
    before = hub.inbox_rows()
    r = hub.client.post(
        "/v1/events",
        content=body,
        headers={
            "authorization": "Bearer tms-token-0123456789-0123456789-tms",
            "content-type": "application/json",
        },
    )
    assert r.status_code < 500, r.text
    stored = r.json().get("accepted", 0) if r.status_code == 202 else 0
    assert hub.inbox_rows() == before + stored


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
    ),
    body=st.binary(max_size=200),
)
def test_any_path_and_body_elsewhere_never_5xx(hub: Hub, path: str, body: bytes) -> None:
    for method in ("GET", "POST"):
        try:
            r = hub.client.request(
                method, "/v1/" + path.lstrip("/"), content=body if method == "POST" else None
            )
        except (httpx.InvalidURL, httpx.LocalProtocolError, httpx.UnsupportedProtocol):
            return
        assert r.status_code < 500, (method, path, r.text)
