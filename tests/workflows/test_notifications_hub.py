"""Customer notifications through a real hub: per-subscriber filters (event types, milestones,
subjects, customers) and secret rotation, checked by receivers that verify every delivery
with the `standardwebhooks` library, each knowing only one of the secrets."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.config import ConfigError, Settings, load_config
from intermodal.store import open_store
from intermodal.store.tables import cases, dead_letters
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


OLD, NEW, OTHER = _secret(), _secret(), _secret()


@dataclass
class Receivers:
    """One route per subscriber; each verifies with the secret(s) it was given, else 401."""

    knows: dict[str, list[str]]
    got: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    signatures: dict[str, list[str]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            name = request.path_params["name"]
            body = await request.body()
            headers = dict(request.headers)
            for secret in self.knows[name]:
                try:
                    event = Webhook(secret).verify(body, headers)
                except WebhookVerificationError:
                    continue
                with self.lock:
                    self.got.setdefault(name, []).append(event)
                    self.signatures.setdefault(name, []).append(headers["webhook-signature"])
                return JSONResponse({"ok": True})
            with self.lock:
                self.refused[name] = self.refused.get(name, 0) + 1
            return JSONResponse({"error": "bad signature"}, 401)

        return Starlette(routes=[Route("/{name}", hook, methods=["POST"])])

    def events(self, name: str) -> list[tuple[str, str, Any]]:
        with self.lock:
            items = list(self.got.get(name, []))
        return sorted(
            (e["type"], e["subject"], e["data"].get("milestone") or e["data"].get("kind"))
            for e in items
        )


@dataclass
class Setup:
    url: str
    receivers: Receivers
    settings: Settings

    def send(self, batch: list[dict[str, Any]]) -> None:
        response = httpx.post(
            f"{self.url}/v1/events",
            json=batch,
            headers={"authorization": "Bearer carrier-token-0123456789-0123456789"},
            timeout=30,
        )
        assert response.status_code == 202, response.text


def _event(type_: str, subject: str, at: str, data: dict[str, Any], n: list[int]) -> dict[str, Any]:
    n[0] += 1
    return {"specversion": "1.0", "id": f"e{n[0]}", "source": "test", "type": type_,
            "subject": subject, "time": at, "data": data}  # fmt: skip


@pytest.fixture
def setup(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("NOTIFY_OLD", OLD)
    monkeypatch.setenv("NOTIFY_NEW", NEW)
    (tmp_path / "carrier.token").write_text("carrier-token-0123456789-0123456789")
    receivers = Receivers(
        knows={
            "old-only": [OLD], "new-only": [NEW], "rotating": [NEW], "customer": [OLD],
            "stale": [NEW],
        }
    )  # fmt: skip
    with serve_in_thread(receivers.app()) as rx:
        both = ["env:NOTIFY_OLD", "env:NOTIFY_NEW"]
        config: dict[str, Any] = {
            "hub": {"database": db_url},
            "partners": {
                "carrier": {
                    "tokens": [{"token": "file:carrier.token"}],
                    "owns": ["picked_up", "in_transit", "delivered", "delivery_failed"],
                },
            },
            "endpoints": {
                # Mid-rotation: both secrets sign; one receiver knows the old, one the new.
                "old-only": {"url": f"{rx}/old-only", "secrets": both,
                             "events": ["milestone", "pod.received", "case.opened", "case.closed"],
                             "milestones": ["delivered", "delivery_failed"],
                             "subjects": ["SHP-*"]},
                "new-only": {"url": f"{rx}/new-only", "secret": "env:NOTIFY_OLD",
                             "secrets": ["env:NOTIFY_NEW"], "events": ["pod.received"]},
                # Defaults: every milestone, nothing else.
                "rotating": {"url": f"{rx}/rotating", "secrets": ["env:NOTIFY_NEW"]},
                "customer": {"url": f"{rx}/customer", "secret": "env:NOTIFY_OLD",
                             "customers": ["ACME"], "milestones": ["delivered"]},
                # Still signing with the old secret only: its receiver refuses every delivery.
                "stale": {"url": f"{rx}/stale", "secret": "env:NOTIFY_OLD",
                          "milestones": ["delivered"], "subjects": ["SHP-1"]},
            },
            "delivery": {"max_attempts": 1},
            "workflows": {},
        }  # fmt: skip
        (tmp_path / "hub.yaml").write_text(yaml.safe_dump(config))
        settings = load_config(tmp_path / "hub.yaml")
        with running_hub(settings) as url:
            yield Setup(url, receivers, settings)


def test_subscribers_get_what_they_filter_for_signed_with_every_active_secret(
    setup: Setup,
) -> None:
    n = [0]
    t = "2026-11-23T10:00:00Z"
    party = lambda ref: [{"role": "customer", "name": f"{ref} Corp", "reference": ref}]  # noqa: E731
    setup.send(
        [
            _event("intermodal.shipment.upserted", "SHP-1", t,
                   {"key": "SHP-1", "parties": party("ACME")}, n),
            _event("intermodal.shipment.upserted", "SHP-2", t,
                   {"key": "SHP-2", "parties": party("BETA")}, n),
            _event("intermodal.shipment.milestone", "SHP-1", "2026-11-23T11:00:00Z",
                   {"milestone": "picked_up", "occurred_at": "2026-11-23T11:00:00Z"}, n),
            _event("intermodal.shipment.milestone", "SHP-1", "2026-11-23T12:00:00Z",
                   {"milestone": "delivered", "occurred_at": "2026-11-23T12:00:00Z"}, n),
            _event("intermodal.pod.received", "SHP-1", "2026-11-23T12:05:00Z",
                   {"delivered_at": "2026-11-23T12:00:00Z", "signed_by": "R. Roe"}, n),
            _event("intermodal.shipment.milestone", "SHP-2", "2026-11-23T12:00:00Z",
                   {"milestone": "delivered", "occurred_at": "2026-11-23T12:00:00Z"}, n),
            _event("intermodal.shipment.milestone", "OTHER-9", "2026-11-23T12:00:00Z",
                   {"milestone": "delivery_failed", "occurred_at": "2026-11-23T12:00:00Z"}, n),
            _event("intermodal.shipment.milestone", "SHP-3", "2026-11-23T13:00:00Z",
                   {"milestone": "delivery_failed", "occurred_at": "2026-11-23T13:00:00Z"}, n),
        ]
    )  # fmt: skip
    # The second attempt succeeds: the workflows close SHP-3's case, subscribers hear of it.
    setup.send(
        [_event("intermodal.shipment.milestone", "SHP-3", "2026-11-23T15:00:00Z",
                {"milestone": "delivered", "occurred_at": "2026-11-23T15:00:00Z"}, n)]
    )  # fmt: skip
    rx = setup.receivers
    expected: dict[str, list[tuple[str, str, Any]]] = {
        "old-only": sorted([
            ("intermodal.shipment.milestone", "SHP-1", "delivered"),
            ("intermodal.pod.received", "SHP-1", None),
            ("intermodal.shipment.milestone", "SHP-2", "delivered"),
            ("intermodal.shipment.milestone", "SHP-3", "delivery_failed"),
            ("intermodal.case.opened", "SHP-3", "delivery_failed"),
            ("intermodal.shipment.milestone", "SHP-3", "delivered"),
            ("intermodal.case.closed", "SHP-3", "delivery_failed"),
        ]),
        "new-only": [("intermodal.pod.received", "SHP-1", None)],
        "rotating": sorted([
            ("intermodal.shipment.milestone", "SHP-1", "picked_up"),
            ("intermodal.shipment.milestone", "SHP-1", "delivered"),
            ("intermodal.shipment.milestone", "SHP-2", "delivered"),
            ("intermodal.shipment.milestone", "OTHER-9", "delivery_failed"),
            ("intermodal.shipment.milestone", "SHP-3", "delivery_failed"),
            ("intermodal.shipment.milestone", "SHP-3", "delivered"),
        ]),
        "customer": [("intermodal.shipment.milestone", "SHP-1", "delivered")],
    }  # fmt: skip

    def all_arrived() -> bool:
        return all(len(rx.events(name)) >= len(v) for name, v in expected.items()) and (
            rx.refused.get("stale", 0) >= 1
        )

    wait_until(all_arrived, timeout=20)
    for name, wanted in expected.items():
        assert rx.events(name) == wanted, name
    # Two secrets, two `v1,` entries; one secret, one.
    assert all(
        len(s.split(" ")) == 2 for s in rx.signatures["old-only"] + rx.signatures["new-only"]
    )
    assert all(len(s.split(" ")) == 1 for s in rx.signatures["rotating"])
    # The stale subscriber's receiver refused it: a dead letter, delivered to nobody.
    assert rx.refused == {"stale": 1}
    store = open_store(setup.settings.hub.database, migrate=False)
    try:
        with store.read() as conn:
            dead = conn.execute(select(dead_letters.c.endpoint, dead_letters.c.last_error)).all()
            opened = conn.execute(select(cases.c.subject, cases.c.kind)).all()
    finally:
        store.dispose()
    assert [(d.endpoint, d.last_error[:8]) for d in dead] == [("stale", "HTTP 401")]
    assert sorted((c.subject, c.kind) for c in opened) == [
        ("OTHER-9", "delivery_failed"), ("SHP-3", "delivery_failed"),
    ]  # fmt: skip
    # The case notification carries the case, its id stable (a replay cannot notify twice).
    (case_event,) = [e for e in rx.got["old-only"] if e["type"] == "intermodal.case.opened"]
    assert case_event["data"]["kind"] == "delivery_failed" and case_event["data"]["case_id"]
    (closed,) = [e for e in rx.got["old-only"] if e["type"] == "intermodal.case.closed"]
    assert closed["data"]["case_id"] == case_event["data"]["case_id"]
    assert closed["id"] != case_event["id"] and closed["data"]["closed_at"]


def test_a_replayed_batch_notifies_nobody_twice(setup: Setup) -> None:
    n = [0]
    batch = [
        _event("intermodal.pod.received", "SHP-7", "2026-11-23T12:05:00Z",
               {"delivered_at": "2026-11-23T12:00:00Z"}, n),
    ]  # fmt: skip
    setup.send(batch)
    wait_until(lambda: len(setup.receivers.events("new-only")) == 1, timeout=20)
    setup.send(batch)  # same ids: acknowledged, not applied again
    setup.send([{**batch[0], "id": "other-id"}])  # same meaning under another id: a duplicate
    with pytest.raises(TimeoutError):
        wait_until(lambda: len(setup.receivers.events("new-only")) > 1, timeout=1.5)


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ({"events": ["milestone", "parcel.exploded"]}, "endpoints.portal.events.1"),
        ({"secrets": ["whsec_literal"]}, "endpoints.portal.secrets.0"),
        ({"secrets": ["env:NOT_SET_ANYWHERE_42"]}, "endpoints.portal.secrets.0"),
        ({"subjects": [""]}, "endpoints.portal.subjects.0"),
        ({"customers": "ACME"}, "endpoints.portal.customers"),
        ({"events": "milestone"}, "endpoints.portal.events"),
    ],
)
def test_bad_subscriber_settings_are_named(
    endpoint: dict[str, Any], problem: str, make_settings: Callable[..., Settings]
) -> None:
    config = {"endpoints": {"portal": {"url": "https://portal.example.com/hooks", **endpoint}}}
    with pytest.raises(ConfigError) as caught:
        make_settings(config)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_rotation_key_that_is_not_a_webhook_secret_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    config = {"endpoints": {"portal": {"url": "https://p.example.com", "secrets": ["env:K"]}}}
    with pytest.raises(ConfigError) as caught:
        make_settings(config, env={"K": "whsec_!!not-base64!!"})
    assert caught.value.problems[0].startswith("endpoints.portal.secrets.0")
    ok = make_settings(config, env={"K": NEW})
    assert len(ok.endpoints["portal"].secret_keys) == 1
    assert orjson.dumps(sorted(ok.endpoints)) == b'["portal"]'
