"""Who may read what, over real loopback HTTP on SQLite and PostgreSQL.

Every read needs a partner token with the read scope, the admin token or a control-tower
session; a partner reads only the shipments it took part in (it reported on them, or its
own endpoint is subscribed to them), a customer portal only its customers' shipments, and
a sender only its own receipts. What lies outside is a 404, the same answer as for
something that does not exist. A name that is no partner is answered like an
unauthenticated request to a real one, so partner names cannot be enumerated.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.config import ConfigError, load_config
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, new_webhook_secret, webhook_key
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import pg_database
from tests.e2e.conftest import csrf_of

ADMIN_TOKEN = "boundary-admin-token-7d41c0-0123456789"
TOKENS = {
    "acme": "acme-boundary-token-0c9a51-01234",  # a carrier: writes and reads
    "beta": "beta-boundary-token-5e27d3-01234",  # another carrier
    "gamma": "gamma-boundary-token-a81f06-01234",  # reads; its endpoint takes SUB-* shipments
    "delta": "delta-boundary-token-3b9e42-01234",  # reads; its endpoint is the flows' notify role
    "portal": "portal-boundary-token-f6d218-01234",  # a customer portal: CUST-A and Gamma Freight
    "writer": "writer-boundary-token-19ce7b-01234",  # writes only: the shipments' creator
}
CUSTOMERS = {  # reference -> name of each customer a shipment may belong to
    "CUST-A": "Alpha Co",
    "CUST-B": "Beta Co",
    "CUST-C": "Gamma Freight Co",
}
PORTAL_CUSTOMERS = ["CUST-A", "Gamma Freight Co"]  # one by reference, one by name
REPORTERS = ("acme", "beta", "portal")
OPERATOR = ("olga", "a long operator password")


@dataclass
class Hub:
    url: str
    client: httpx.Client
    acme_key: bytes

    def get(self, path: str, who: str | None) -> httpx.Response:
        return self.client.get(path, headers=credentials(who))

    def batch(self, who: str, events: list[dict[str, Any]]) -> list[str]:
        """Post `events` with `who`'s token; the receipt id of each."""
        answer = self.client.post("/v1/events", json=events, headers=credentials(who))
        assert answer.status_code == 202, answer.text
        return [r["receipt_id"] for r in answer.json()["results"]]


def credentials(who: str | None) -> dict[str, str]:
    if who is None:
        return {}
    if who == "admin":
        return {"authorization": f"Bearer {ADMIN_TOKEN}"}
    if who == "bogus":
        return {"authorization": "Bearer not-a-token-anyone-was-given"}
    return {"authorization": f"Bearer {TOKENS[who]}"}


def _config(folder: Path, database: str) -> dict[str, Any]:
    tokens = {
        "acme": {},
        "beta": {},
        "gamma": {"scopes": ["shipments:read"]},
        "delta": {"scopes": ["shipments:read"]},
        "portal": {"customers": PORTAL_CUSTOMERS},
        "writer": {"scopes": ["events:write"]},
    }
    partners: dict[str, Any] = {}
    for name, extra in tokens.items():
        (folder / f"{name}.token").write_text(TOKENS[name])
        partners[name] = {"tokens": [{"token": f"file:{name}.token", **extra}]}
    partners["acme"]["webhook_secrets"] = ["file:acme.secret"]
    partners["beta"]["edi"] = {"format": "x12"}
    (folder / "admin.token").write_text(ADMIN_TOKEN)
    (folder / "olga.password").write_text(OPERATOR[1])
    return {
        "hub": {"database": database, "admin_token": "file:admin.token"},
        "partners": partners,
        "endpoints": {
            "gamma": {"url": "http://127.0.0.1:9/hooks", "subjects": ["SUB-*"]},
            "delta": {"url": "http://127.0.0.1:9/hooks"},
        },
        "workflows": {"flows": [], "roles": {"notify": "delta"}},
        "tower": {"users": {OPERATOR[0]: {"password": "file:olga.password"}}},
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with contextlib.ExitStack() as stack:
        folder = tmp_path_factory.mktemp("boundaries")
        database = (
            f"sqlite:///{folder / 'hub.db'}"
            if request.param == "sqlite"
            else stack.enter_context(pg_database())
        )
        secret = new_webhook_secret()
        (folder / "acme.secret").write_text(secret)
        (folder / "hub.yaml").write_text(yaml.safe_dump(_config(folder, database)))
        settings_ = load_config(folder / "hub.yaml")
        url = stack.enter_context(running_hub(settings_, dispatch=False))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        yield Hub(url, client, webhook_key(Secret(secret)))


# -- the world a property example builds ----------------------------------------------------


@dataclass(frozen=True)
class PlannedShipment:
    key: str
    customer: str | None
    reporters: frozenset[str]


def upsert(key: str, customer: str | None, event_id: str) -> dict[str, Any]:
    parties = [{"role": "consignee", "name": "Ada Lovelace", "email": "ada@example.com"}]
    if customer is not None:
        parties.append({"role": "customer", "name": CUSTOMERS[customer], "reference": customer})
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "writer",
        "type": "intermodal.shipment.upserted",
        "subject": key,
        "time": "2026-11-23T08:00:00Z",
        "data": {"key": key, "parties": parties},
    }


def milestone(key: str, event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "carrier",
        "type": "intermodal.shipment.milestone",
        "subject": key,
        "time": "2026-11-23T10:00:00Z",
        "data": {"milestone": "picked_up", "occurred_at": "2026-11-23T10:00:00Z"},
    }


def may_read(who: str, shipment: PlannedShipment) -> bool:
    """The rule, written out again independently of the hub's code."""
    if who == "admin":
        return True
    if who == "portal":
        names = {shipment.customer, CUSTOMERS[shipment.customer]} if shipment.customer else set()
        return bool(names & set(PORTAL_CUSTOMERS))
    if who == "gamma":
        return shipment.key.startswith("SUB-")
    return who in shipment.reporters


_counter = itertools.count()

shipments_plans = st.lists(
    st.tuples(
        st.sampled_from(["SUB-", "OTH-"]),
        st.sampled_from([None, *CUSTOMERS]),
        st.frozensets(st.sampled_from(REPORTERS)),
    ),
    min_size=1,
    max_size=4,
)
READERS = ("admin", "acme", "beta", "gamma", "delta", "portal", "writer", None, "bogus")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=shipments_plans)
def test_no_read_crosses_a_boundary(hub: Hub, plans: list[tuple[str, str | None, Any]]) -> None:
    run = f"{next(_counter)}-{time.monotonic_ns() % 10**9}"
    planned = [
        PlannedShipment(f"{prefix}{run}-{i}", customer, reporters)
        for i, (prefix, customer, reporters) in enumerate(plans)
    ]
    sent: dict[str, str] = {}  # receipt id -> the partner that sent it
    created = hub.batch("writer", [upsert(s.key, s.customer, f"up-{s.key}") for s in planned])
    sent.update(dict.fromkeys(created, "writer"))
    for reporter in REPORTERS:
        mine = [s for s in planned if reporter in s.reporters]
        if mine:
            ids = hub.batch(reporter, [milestone(s.key, f"{reporter}-{s.key}") for s in mine])
            sent.update(dict.fromkeys(ids, reporter))

    def applied() -> bool:
        return all(
            hub.get(f"/v1/receipts/{receipt}", "admin").json()["status"] != "pending"
            for receipt in sent
        )

    wait_until(applied, timeout=30)
    for shipment, who in itertools.product(planned, READERS):
        read = hub.get(f"/v1/shipments/{shipment.key}", who)
        timeline = hub.get(f"/v1/shipments/{shipment.key}/timeline", who)
        if who in (None, "bogus"):
            expected = 401
        elif who == "writer":  # no read scope
            expected = 403
        else:
            expected = 200 if may_read(who, shipment) else 404
        assert (read.status_code, timeline.status_code) == (expected, expected), (who, shipment)
        if expected == 404:  # word for word what a key nobody used gets
            absent = hub.get(f"/v1/shipments/{shipment.key}-none", who)
            assert read.text.replace(shipment.key, "KEY") == absent.text.replace(
                f"{shipment.key}-none", "KEY"
            )
        if expected != 200:
            assert "ada@example.com" not in read.text + timeline.text
            continue
        assert read.json()["shipment"]["parties"][0]["email"] == "ada@example.com"
        for event in timeline.json():
            own = who == "admin" or event["partner"] == who
            assert (event["receipt_id"] is not None) == own, (who, event)
    for (receipt, sender), who in itertools.product(sent.items(), READERS):
        answer = hub.get(f"/v1/receipts/{receipt}", who)
        mine = who in ("admin", sender)
        expected = 401 if who in (None, "bogus") else 200 if mine else 404
        assert answer.status_code == expected, (who, sender, answer.text)


# -- every read is authenticated -------------------------------------------------------------


READS = ["/v1/shipments/ANY-1", "/v1/shipments/ANY-1/timeline", "/v1/receipts/rcpt_any", "/metrics"]


@pytest.mark.parametrize("path", READS)
def test_a_read_without_credentials_or_with_a_wrong_token_is_401(hub: Hub, path: str) -> None:
    for headers in ({}, credentials("bogus"), {"authorization": "Basic YWRtaW46YWRtaW4="}):
        answer = hub.client.get(path, headers=headers)
        assert answer.status_code == 401, (path, headers, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"]["code"] == "unauthorized"


def test_health_stays_open_and_metrics_are_the_admins(hub: Hub) -> None:
    assert hub.client.get("/healthz").status_code == 200
    assert hub.client.get("/readyz").status_code in (200, 503)  # 503: no dispatcher here
    assert hub.get("/metrics", "admin").status_code == 200
    assert "intermodal_ingress" in hub.get("/metrics", "admin").text
    partner = hub.get("/metrics", "acme")
    assert partner.status_code == 403 and "admin token" in partner.json()["error"]["message"]


def test_a_tower_session_reads_shipments_and_metrics(hub: Hub) -> None:
    key = f"TOWER-{time.monotonic_ns()}"
    hub.batch("writer", [upsert(key, None, f"up-{key}")])
    wait_until(lambda: hub.get(f"/v1/shipments/{key}", "admin").status_code == 200)
    with httpx.Client(base_url=hub.url, follow_redirects=False) as browser:
        csrf = csrf_of(browser.get("/tower/login").text)
        login = browser.post(
            "/tower/login",
            data={"username": OPERATOR[0], "password": OPERATOR[1], "csrf": csrf},
        )
        assert login.status_code == 303, login.text
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
    # The cookie is scoped to /tower: a tool carrying the session sends it itself.
    session = {"cookie": cookie}
    assert hub.client.get(f"/v1/shipments/{key}", headers=session).status_code == 200
    assert hub.client.get(f"/v1/shipments/{key}/timeline", headers=session).status_code == 200
    assert hub.client.get("/metrics", headers=session).status_code == 200
    forged = {"cookie": cookie[:-4] + "AAAA"}
    assert hub.client.get(f"/v1/shipments/{key}", headers=forged).status_code == 401


def test_metrics_are_public_only_when_configured(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(
        yaml.safe_dump(
            {"hub": {"database": f"sqlite:///{tmp_path / 'hub.db'}", "metrics_public": True}}
        )
    )
    with running_hub(load_config(tmp_path / "hub.yaml"), dispatch=False) as url:
        assert httpx.get(f"{url}/metrics").status_code == 200
        assert httpx.get(f"{url}/v1/shipments/ANY-1").status_code == 401  # reads still are not


def test_customers_on_a_token_that_cannot_read_is_a_configuration_mistake(
    tmp_path: Path,
) -> None:
    (tmp_path / "p.token").write_text("portal-token-for-the-config-check-0123456789")
    token = {"token": "file:p.token", "scopes": ["events:write"], "customers": ["CUST-A"]}
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump({"partners": {"p": {"tokens": [token]}}}))
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "hub.yaml")
    assert "partners.p.tokens.0.customers" in str(refused.value)
    assert "shipments:read" in str(refused.value)


@pytest.mark.parametrize("key", ["a\x00b", "K" * 129, "%00"])
def test_a_key_no_store_can_hold_is_a_plain_404(hub: Hub, key: str) -> None:
    """Too long for the column: the 404 of any unknown key. A NUL is refused for every
    path before any route (a 400 naming the path), so it tells nothing about keys either."""
    for path in (f"/v1/shipments/{key}", f"/v1/shipments/{key}/timeline", f"/v1/receipts/{key}"):
        answer = hub.client.get(path.replace("\x00", "%00"), headers=credentials("admin"))
        expected = 400 if "\x00" in key or "%00" in key else 404
        assert answer.status_code == expected, (path, answer.text)


# -- admin: authentication before validation ------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"", b"{not json", b'{"ids": 7}', b'{"ids": [""]}', b"[]", b'{"all": "x"}']
)
def test_the_admin_api_authenticates_before_it_validates(hub: Hub, body: bytes) -> None:
    replay = "/v1/admin/dead-letters/replay"
    headers = {"content-type": "application/json"}
    for who in (None, "bogus", "acme"):
        answer = hub.client.post(replay, content=body, headers={**headers, **credentials(who)})
        assert answer.status_code == 401, (who, body, answer.text)
    admin = hub.client.post(replay, content=body, headers={**headers, **credentials("admin")})
    assert admin.status_code == 422 and admin.json()["error"]["code"] == "invalid"
    listing = hub.client.get("/v1/admin/dead-letters", params={"limit": "many", "after": "-1"})
    assert listing.status_code == 401


# -- partner names cannot be enumerated ------------------------------------------------------


def _answer(response: httpx.Response, name: str) -> tuple[int, str, dict[str, str]]:
    """Everything a caller sees, with the name it chose itself made neutral."""
    shown = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    return response.status_code, response.text.replace(name, "NAME"), shown


header_sets = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(["application/json", "text/plain", "application/xml"]),
        "webhook-id": st.sampled_from(["msg-1", "x" * 300]),
        "webhook-timestamp": st.sampled_from(["now", "old", "future", "soon-ish", "12x"]),
        "webhook-signature": st.sampled_from(["v1,AAAA", "v2,zz", "", "garbage", "signed"]),
        "authorization": st.sampled_from([f"Bearer {TOKENS['acme']}", "Bearer nope", "Basic x"]),
    },
)


def _concrete(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The headers with real times, and `signed` made a valid signature by a key the hub
    does not hold."""
    now = int(time.time())
    stamps = {"now": now, "old": now - 3600, "future": now + 3600, "soon-ish": now + 10}
    concrete = dict(headers)
    stamp = stamps.get(headers.get("webhook-timestamp", ""), now)
    if headers.get("webhook-timestamp") in stamps:
        concrete["webhook-timestamp"] = str(stamp)
    if headers.get("webhook-signature") == "signed":
        stranger = webhook_key(Secret(new_webhook_secret()))
        concrete["webhook-signature"] = sign(stranger, headers.get("webhook-id", ""), stamp, body)
    return concrete


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(headers=header_sets, body=st.sampled_from([b"{}", b"[]", b"{not json", b"x" * 50]))
def test_an_unknown_webhook_partner_answers_as_an_unauthenticated_known_one(
    hub: Hub, headers: dict[str, str], body: bytes
) -> None:
    concrete = _concrete(headers, body)
    known = hub.client.post("/v1/webhooks/acme", content=body, headers=concrete)
    assert known.status_code in (400, 401, 415), known.text  # nothing was authenticated
    for name in ("nobody", "Acme", "acme-old", "x" * 70):
        unknown = hub.client.post(f"/v1/webhooks/{name}", content=body, headers=concrete)
        assert _answer(unknown, name) == _answer(known, "acme"), (name, concrete)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(headers=header_sets, body=st.sampled_from([b"ISA*00*", b"", b"UNA:+.? '"]))
def test_an_unknown_edi_partner_answers_as_an_unauthenticated_known_one(
    hub: Hub, headers: dict[str, str], body: bytes
) -> None:
    concrete = _concrete(headers, body)
    if concrete.get("content-type") == "application/json":
        concrete["content-type"] = "application/edi-x12"
    known = hub.client.post("/v1/edi/beta", content=body, headers=concrete)
    assert known.status_code in (400, 401, 403, 415), known.text
    # acme is a partner without EDI: to anyone but acme itself, its name is as unknown
    # here as one nobody has (acme's own token is test_a_partner_that_proved_itself...).
    names = ["nobody", "x" * 70]
    if concrete.get("authorization") != credentials("acme")["authorization"]:
        names.append("acme")
    for name in names:
        unknown = hub.client.post(f"/v1/edi/{name}", content=body, headers=concrete)
        assert _answer(unknown, name) == _answer(known, "beta"), (name, concrete)


def test_a_partner_that_proved_itself_learns_it_sends_no_edi(hub: Hub) -> None:
    own = {**credentials("acme"), "content-type": "application/edi-x12"}
    answer = hub.client.post("/v1/edi/acme", content=b"ISA*00*", headers=own)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_partner"


def test_a_signed_webhook_to_a_real_partner_still_goes_through(hub: Hub) -> None:
    body = orjson.dumps(milestone(f"SIGNED-{time.monotonic_ns()}", "signed-1"))
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": f"signed-{stamp}",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(hub.acme_key, f"signed-{stamp}", stamp, body),
    }
    assert hub.client.post("/v1/webhooks/acme", content=body, headers=headers).status_code == 202
