"""The customer portal simulator: signature checks (signed by the `standardwebhooks`
reference library, not by our own code), rotation, stale and future timestamps, duplicate
ids, hostile input; and the real hub delivering to it through scripted failures."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from intermodal.config import Settings
from intermodal.ingress.signatures import sign
from intermodal_sim.partner import webhook_key_of
from intermodal_sim.portal.app import Portal
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from tests.conftest import new_secret
from tests.sim.conftest import CLIENT

OLD, NEW, STRANGER = new_secret(), new_secret(), new_secret()


def header_text(size: int) -> st.SearchStrategy[str]:
    """Printable ASCII a client can send as a header value (no surrounding blanks)."""
    return st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=size).map(str.strip)


def event(event_id: str, subject: str = "SHP-1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "intermodal",
        "type": "intermodal.shipment.milestone",
        "subject": subject,
        "time": "2026-03-02T10:00:00Z",
        "data": {"milestone": "picked_up", "occurred_at": "2026-03-02T10:00:00Z"},
    }


def signed(secret: str, message_id: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """Headers as a Standard Webhooks sender writes them, by the reference library."""
    when = datetime.fromtimestamp(int(time.time() if at is None else at), UTC)
    signature = Webhook(secret).sign(message_id, when, body.decode())
    return {
        "content-type": "application/cloudevents+json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


@pytest.fixture
def portal() -> Iterator[tuple[str, Portal]]:
    """A portal in the middle of a rotation: it holds the old and the new secret."""
    sim = Portal((webhook_key_of(OLD), webhook_key_of(NEW)))
    with serve_in_thread(sim.app()) as url:
        yield url, sim


def test_valid_signatures_by_either_secret_are_accepted(portal: tuple[str, Portal]) -> None:
    url, _sim = portal
    for number, secret in enumerate((OLD, NEW)):
        body = orjson.dumps(event(f"evt-{number}"))
        answer = httpx.post(
            f"{url}/hooks", content=body, headers=signed(secret, f"m-{number}", body)
        )
        assert answer.status_code == 200, answer.text
    # one header, several signatures: a stranger's first, a valid one second
    body = orjson.dumps([event("evt-2"), event("evt-3", "SHP-2")])
    headers = signed(NEW, "m-2", body)
    stranger = signed(STRANGER, "m-2", body)["webhook-signature"]
    headers["webhook-signature"] = f"{stranger} v2,abc {headers['webhook-signature']}"
    headers["content-type"] = "application/cloudevents-batch+json"
    assert httpx.post(f"{url}/hooks/orders", content=body, headers=headers).status_code == 200
    received = httpx.get(f"{url}/_sim/received").json()
    assert [e["event"]["id"] for e in received["events"]] == ["evt-0", "evt-1", "evt-2", "evt-3"]
    only = httpx.get(f"{url}/_sim/received", params={"subject": "SHP-2"}).json()
    assert [e["webhook_id"] for e in only["events"]] == ["m-2"]
    stats = httpx.get(f"{url}/_sim/stats").json()
    assert stats["accepted"] == 3 and stats["events"] == 4 and stats["rejected_total"] == 0


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("stranger", "signature_mismatch"),
        ("body", "signature_mismatch"),
        ("stale", "signature_stale"),
        ("future", "signature_future"),
        ("missing", "signature_missing"),
        ("timestamp", "signature_malformed"),
        ("v2", "signature_mismatch"),
    ],
)
def test_bad_signatures_are_refused_with_401_and_counted(
    portal: tuple[str, Portal], tamper: str, reason: str
) -> None:
    url, _sim = portal
    body = orjson.dumps(event("evt-x"))
    headers = signed(
        STRANGER if tamper == "stranger" else NEW,
        "m-x",
        body,
        at={"stale": time.time() - 301, "future": time.time() + 400}.get(tamper),
    )
    if tamper == "body":
        body = body.replace(b"picked_up", b"delivered")
    elif tamper == "missing":
        del headers["webhook-signature"]
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = "12e3"
    elif tamper == "v2":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    answer = httpx.post(f"{url}/hooks", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["reason"] == reason.removeprefix("signature_")
    stats = httpx.get(f"{url}/_sim/stats").json()
    assert stats["rejected"] == {reason: 1} and stats["accepted"] == 0
    assert httpx.get(f"{url}/_sim/received").json()["count"] == 0


def test_a_repeated_webhook_id_is_recorded_once(portal: tuple[str, Portal]) -> None:
    url, _sim = portal
    body = orjson.dumps(event("evt-d"))
    for _ in range(3):
        answer = httpx.post(f"{url}/hooks", content=body, headers=signed(NEW, "m-d", body))
        assert answer.status_code == 200
    assert answer.json()["duplicate"] is True
    other = orjson.dumps(event("evt-e"))
    reused = httpx.post(f"{url}/hooks", content=other, headers=signed(NEW, "m-d", other))
    assert reused.status_code == 409
    stats = httpx.get(f"{url}/_sim/stats").json()
    assert (stats["accepted"], stats["duplicates"], stats["conflicts"]) == (1, 2, 1)
    assert httpx.get(f"{url}/_sim/received").json()["count"] == 1


def test_bodies_that_are_not_cloudevents_are_refused(portal: tuple[str, Portal]) -> None:
    url, _ = portal
    for number, body in enumerate(
        [
            b"[]",
            b"{}",
            b'{"specversion": "0.3", "id": "a", "type": "t", "source": "s"}',
            b"[1]",
            b"nope",
        ]
    ):
        answer = httpx.post(f"{url}/hooks", content=body, headers=signed(NEW, f"b-{number}", body))
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["message"]
    headers = {**signed(NEW, "t-1", b"{}"), "content-type": "text/plain"}
    assert httpx.post(f"{url}/hooks", content=b"{}", headers=headers).status_code == 415
    assert httpx.post(f"{url}/_sim/control", json={"fail_status": 200}).status_code == 422
    assert httpx.get(f"{url}/_sim/received", params={"limit": "x"}).status_code == 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=200),
    message_id=header_text(300),
    timestamp=st.one_of(
        st.builds(lambda skew: str(int(time.time()) + skew), st.integers(-400, 400)),
        st.integers(-(10**13), 10**13).map(str),
        header_text(15),
    ),
    signature=header_text(120),
    sign_it=st.booleans(),
)
def test_hostile_headers_and_bodies_get_4xx_or_an_honest_200(
    portal: tuple[str, Portal],
    body: bytes,
    message_id: str,
    timestamp: str,
    signature: str,
    sign_it: bool,
) -> None:
    url, sim = portal
    headers = {
        "content-type": "application/cloudevents+json",
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    if sign_it and message_id.strip() and timestamp.isdigit():
        headers["webhook-signature"] = sign(webhook_key_of(NEW), message_id, int(timestamp), body)
    before = sim.stats()["accepted"]
    answer = CLIENT.post(f"{url}/hooks", content=body, headers=headers)
    assert answer.status_code in (200, 400, 401, 409), answer.text
    accepted = sim.stats()["accepted"] - before
    really_signed = sign_it and headers["webhook-signature"] != signature
    if not really_signed:
        assert answer.status_code in (400, 401), answer.text  # nothing gets past the check
    if accepted:
        assert really_signed and abs(int(timestamp) - time.time()) <= 301
        assert isinstance(orjson.loads(body), dict | list)


def test_the_hub_retries_through_429s_and_the_portal_records_each_event_once(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    sim = Portal((webhook_key_of(OLD), webhook_key_of(NEW)))
    with serve_in_thread(sim.app()) as portal_url:
        hub_settings = make_settings(
            {
                "hub": {"database": sqlite_url},
                "delivery": {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
                "partners": {"carrier": {"webhook_secrets": ["env:CARRIER_SECRET"]}},
                "endpoints": {
                    "customer-portal": {"url": f"{portal_url}/hooks", "secret": "env:PORTAL_SECRET"}
                },
            },
            env={"CARRIER_SECRET": STRANGER, "PORTAL_SECRET": NEW},
        )
        control = {
            "fail_next": 2,
            "fail_status": 429,
            "retry_after": 1,
            "slow_ms": 50,
            "slow_next": 1,
        }
        httpx.post(f"{portal_url}/_sim/control", json=control).raise_for_status()
        with running_hub(hub_settings) as hub:
            for number, milestone in enumerate(("picked_up", "in_transit")):
                body = orjson.dumps(
                    {
                        **event(f"c-{number}", "SHP-9"),
                        "data": {
                            "milestone": milestone,
                            "occurred_at": f"2026-03-02T1{number}:00:00Z",
                        },
                    }
                )
                headers = signed(STRANGER, f"w-{number}", body)
                headers["content-type"] = "application/json"
                assert (
                    httpx.post(
                        f"{hub}/v1/webhooks/carrier", content=body, headers=headers
                    ).status_code
                    == 202
                )
            wait_until(lambda: sim.stats()["events"] == 2, timeout=30)
        stats = sim.stats()
        assert stats["failures_sent"] == 2 and stats["rejected_total"] == 0
        assert stats["slowed"] == 1
        received = sim.events(subject="SHP-9")
        assert sorted(e["event"]["data"]["milestone"] for e in received) == [
            "in_transit",
            "picked_up",
        ]
        assert all(e["webhook_id"].startswith("cmd_") for e in received)
