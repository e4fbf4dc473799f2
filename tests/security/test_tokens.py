"""Bearer tokens on SQLite and PostgreSQL: issued, listed, rotated and revoked through the
`intermodal token` commands, then presented over real HTTP (live: in; revoked, expired,
unknown or missing: 401); last use recorded without a write per request; every failure
counted and audited without the token's text; any string is refused unless it is a live
token; configured tokens keep working, may expire, and must be long enough."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import ConfigError, Settings
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.security.tokens import (
    MAX_AGE_SECONDS,
    TokenGrant,
    TokenRegistry,
    TokenRejected,
    TokensUnavailable,
    issue,
    list_tokens,
    revoke,
    token_hash,
)
from intermodal.store import Store, open_store
from intermodal.store.tables import audit, tokens
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import new_secret

runner = CliRunner()
CONFIG_TOKEN = "tms-config-token-5f2c81d0a9e4b7c3-0123456789"
OLD_CONFIG_TOKEN = "tms-retired-token-7d41e9a0c3b2f8e6-012345678"


class Hub:
    """A running hub and the command line pointed at its configuration."""

    def __init__(self, url: str, config: Path, settings: Settings) -> None:
        self.url = url
        self.config = config
        self.settings = settings
        self.client = httpx.Client(base_url=url, timeout=30)
        self.sent = 0
        self._issued: str | None = None

    def cli(self, *args: str) -> Any:
        result = runner.invoke(app, [*args, "--config", str(self.config)])
        assert result.exit_code == 0, result.output
        return result

    def new_token(self, *args: str) -> str:
        return str(self.cli("token", "new", "--partner", "tms", *args).stdout.strip())

    def issued(self) -> str:
        """One live issued token, made the first time it is asked for."""
        if self._issued is None:
            self._issued = self.new_token("--label", "property test")
            token = self._issued
            wait_until(lambda: self.status(token) == 202, timeout=3)
        return self._issued

    def listed(self) -> dict[str, dict[str, Any]]:
        found = json.loads(self.cli("token", "list", "--json").stdout)
        return {t["id"]: t for t in found}

    def events(self, token: str | None) -> httpx.Response:
        """POST one fresh event to /v1/events with `token` (None: no header)."""
        self.sent += 1
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        body = [event(f"tok-{self.sent}-{secrets.token_hex(4)}")]
        return self.client.post("/v1/events", json=body, headers=headers)

    def status(self, token: str) -> int:
        return self.events(token).status_code

    def failures(self, route: str, reason: str) -> float:
        text = self.client.get("/metrics", headers=ADMIN).text
        wanted = f'intermodal_auth_failures_total{{reason="{reason}",route="{route}"}}'
        for line in text.splitlines():
            if line.startswith(wanted):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def event(event_id: str, subject: str = "SHP-TOK-1") -> dict[str, Any]:
    at = "2026-11-23T10:00:00Z"
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "tms",
        "type": "intermodal.shipment.milestone",
        "subject": subject,
        "time": at,
        "datacontenttype": "application/json",
        "data": {"milestone": "booked", "occurred_at": at},
    }


ADMIN_TOKEN = "admin-token-for-the-token-tests-8c1f0e2d"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def hub_config(db_url: str) -> dict[str, Any]:
    return {
        "hub": {"database": db_url, "admin_token": "env:TOK_ADMIN"},
        "partners": {
            "tms": {
                "kind": "tms",
                "tokens": [
                    {"token": "env:TOK_TMS"},
                    {"token": "env:TOK_TMS_OLD", "expires_at": "2020-01-01"},
                ],
            },
            "acme": {"kind": "carrier", "webhook_secrets": ["env:TOK_ACME_SECRET"]},
        },
    }


@contextmanager
def serving(db_url: str, make_settings: Callable[..., Settings]) -> Iterator[Hub]:
    """A hub on loopback, stopped (and so its pending audit entries written) on exit."""
    env = {
        "TOK_TMS": CONFIG_TOKEN,
        "TOK_TMS_OLD": OLD_CONFIG_TOKEN,
        "TOK_ACME_SECRET": new_secret(),
        "TOK_ADMIN": ADMIN_TOKEN,
    }
    settings = make_settings(hub_config(db_url), env=env)
    assert settings.source is not None
    with running_hub(settings, dispatch=False) as url:
        running = Hub(url, settings.source, settings)
        try:
            yield running
        finally:
            running.client.close()


@pytest.fixture
def hub(db_url: str, make_settings: Callable[..., Settings]) -> Iterator[Hub]:
    with serving(db_url, make_settings) as running:
        yield running


def test_new_list_revoke_through_the_cli_then_http(hub: Hub) -> None:
    token = hub.new_token("--label", "tms integration", "--scope", "events:write")
    assert token.startswith("imt_") and len(token) >= 40
    wait_until(lambda: hub.status(token) == 202, timeout=3)

    (row,) = hub.listed().values()
    assert (row["partner"], row["label"], row["scopes"], row["status"]) == (
        "tms",
        "tms integration",
        ["events:write"],
        "live",
    )
    assert row["expires_at"] is None and row["revoked_at"] is None
    assert token not in json.dumps(row)
    wait_until(lambda: hub.listed()[row["id"]]["last_used_at"] is not None, timeout=10)
    table = hub.cli("token", "list").stdout
    assert "issued tokens: 1" in table and "tms" in table and token not in table

    # The configuration's token is the bootstrap path and keeps working.
    assert hub.status(CONFIG_TOKEN) == 202
    read = {"authorization": f"Bearer {token}"}
    assert hub.client.get("/v1/shipments/SHP-TOK-1", headers=read).status_code != 401

    revoked_at = time.monotonic()
    hub.cli("token", "revoke", row["id"])
    wait_until(lambda: hub.status(token) == 401, timeout=MAX_AGE_SECONDS + 2)
    assert time.monotonic() - revoked_at <= MAX_AGE_SECONDS + 1
    refused = hub.events(token)
    assert refused.json()["error"]["message"] == "the bearer token has been revoked"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert hub.listed()[row["id"]]["status"] == "revoked"
    assert hub.client.get("/v1/shipments/SHP-TOK-1", headers=read).status_code == 401
    assert hub.status(CONFIG_TOKEN) == 202
    again = runner.invoke(app, ["token", "revoke", "tok_nope", "--config", str(hub.config)])
    assert again.exit_code == 1 and "no issued token" in again.output


def test_an_expired_token_is_refused(hub: Hub) -> None:
    token = hub.new_token("--expires", "3s")
    (row,) = hub.listed().values()
    assert row["expires_at"] is not None
    wait_until(lambda: hub.status(token) == 202, timeout=2)
    wait_until(lambda: hub.status(token) == 401, timeout=5)
    assert hub.events(token).json()["error"]["message"] == "the bearer token has expired"
    assert hub.listed()[row["id"]]["status"] == "expired"
    # A configured token past its `expires_at` is refused the same way.
    assert hub.events(OLD_CONFIG_TOKEN).json()["error"]["message"] == (
        "the bearer token has expired"
    )


def test_rotation_keeps_both_tokens_working_until_the_old_one_goes(hub: Hub) -> None:
    old = hub.new_token("--label", "nightly export", "--scope", "events:write")
    (old_id,) = hub.listed()
    result = hub.cli("token", "rotate", old_id, "--overlap", "1h")
    new = result.stdout.strip()
    assert new.startswith("imt_") and new != old
    assert f"{old_id} keeps working until" in result.stderr

    rows = hub.listed()
    (new_id,) = set(rows) - {old_id}
    assert rows[new_id]["label"] == "nightly export" and rows[new_id]["scopes"] == ["events:write"]
    ends = datetime.fromisoformat(rows[old_id]["expires_at"])
    assert timedelta(minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=1)
    wait_until(lambda: hub.status(new) == 202, timeout=3)
    assert hub.status(old) == 202  # the overlap: both work

    hub.cli("token", "revoke", old_id)  # the partner switched: retire the old one early
    wait_until(lambda: hub.status(old) == 401, timeout=MAX_AGE_SECONDS + 2)
    assert hub.status(new) == 202
    refused = runner.invoke(app, ["token", "rotate", old_id, "--config", str(hub.config)])
    assert refused.exit_code == 1 and "revoked" in refused.output


def test_an_issued_portal_token_reads_only_its_customers_shipments(hub: Hub) -> None:
    portal = hub.new_token("--scope", "shipments:read", "--customer", "CUST-A")
    for key, customer in (("SHP-PORTAL-A", "CUST-A"), ("SHP-PORTAL-B", "CUST-B")):
        upsert = {
            "specversion": "1.0",
            "id": f"up-{key}",
            "source": "tms",
            "type": "intermodal.shipment.upserted",
            "subject": key,
            "time": "2026-11-23T08:00:00Z",
            "data": {
                "key": key,
                "parties": [{"role": "customer", "name": customer, "reference": customer}],
            },
        }
        sent = hub.client.post(
            "/v1/events", json=[upsert], headers={"authorization": f"Bearer {CONFIG_TOKEN}"}
        )
        assert sent.status_code == 202, sent.text
    (row,) = hub.listed().values()
    assert row["customers"] == ["CUST-A"]
    read = {"authorization": f"Bearer {portal}"}
    wait_until(
        lambda: hub.client.get("/v1/shipments/SHP-PORTAL-A", headers=read).status_code == 200
    )
    wait_until(lambda: hub.client.get("/v1/shipments/SHP-PORTAL-B", headers=ADMIN).is_success)
    assert hub.client.get("/v1/shipments/SHP-PORTAL-B", headers=read).status_code == 404


def test_new_refuses_an_unknown_partner_or_scope(hub: Hub) -> None:
    config = ["--config", str(hub.config)]
    nobody = runner.invoke(app, ["token", "new", "--partner", "nobody", *config])
    assert nobody.exit_code == 2 and "no partner named 'nobody'" in nobody.output
    scope = runner.invoke(app, ["token", "new", "--partner", "tms", "--scope", "all", *config])
    assert scope.exit_code == 2 and "unknown scope" in scope.output
    portal = ["--scope", "events:write", "--customer", "CUST-A"]
    unread = runner.invoke(app, ["token", "new", "--partner", "tms", *portal, *config])
    assert unread.exit_code == 2 and "only limits reads" in unread.output
    assert hub.listed() == {}


def test_failures_are_counted_and_audited_without_the_token(
    db_url: str, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    guessed = "imt_" + secrets.token_urlsafe(32)
    body = b"[]"
    ts = int(time.time())
    forged = sign(webhook_key(Secret(new_secret())), "m-1", ts, body)
    with serving(db_url, make_settings) as hub:
        revoked = hub.new_token()
        wait_until(lambda: hub.status(revoked) == 202, timeout=3)
        (revoked_id,) = hub.listed()
        hub.cli("token", "revoke", revoked_id)
        wait_until(lambda: hub.status(revoked) == 401, timeout=MAX_AGE_SECONDS + 2)
        before = hub.failures("batch", "unknown")  # the new token, tried before it was seen
        for _ in range(5):
            assert hub.status(guessed) == 401
        assert hub.events(None).status_code == 401
        answer = hub.client.post(
            "/v1/webhooks/acme",
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": "m-1",
                "webhook-timestamp": str(ts),
                "webhook-signature": forged,
            },
        )
        assert answer.status_code == 401
        assert hub.failures("batch", "unknown") == before + 5
        assert hub.failures("batch", "missing") == 1
        assert hub.failures("batch", "revoked") >= 1
        assert hub.failures("webhook", "signature") == 1
        metrics = hub.client.get("/metrics", headers=ADMIN).text
        settings = hub.settings
    # The audit entries are written once a minute, and when the hub stops.
    store = open_store(settings.hub.database)
    with store.read() as conn:
        rows = list(conn.execute(select(audit).where(audit.c.action == "auth.failed")))
        everything = [" ".join(str(v) for v in row) for row in conn.execute(select(audit))]
    store.dispose()
    by_reason: dict[tuple[str, str], int] = {}
    for row in rows:
        detail = json.loads(row.detail)
        key = (detail["route"], detail["reason"])
        by_reason[key] = by_reason.get(key, 0) + detail["count"]
        if detail["reason"] == "revoked":
            assert (row.subject, detail["token_id"]) == ("tms", revoked_id)
        if detail["reason"] == "signature":
            assert row.subject == "acme"
    assert by_reason[("batch", "unknown")] == before + 5
    assert by_reason[("batch", "missing")] == 1
    assert by_reason[("webhook", "signature")] == 1
    assert by_reason[("batch", "revoked")] >= 1
    logged = [str(vars(record)) for record in caplog.records]
    for secret in (guessed, revoked, forged):
        assert not any(secret in line for line in everything)
        assert not any(secret in line for line in logged)
        assert secret not in metrics
    assert any("authentication failure(s)" in r.getMessage() for r in caplog.records)


ALPHABET = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(presented=st.text(ALPHABET, min_size=1, max_size=80))
@example(presented=CONFIG_TOKEN[:-1])
@example(presented=CONFIG_TOKEN + "x")
@example(presented=CONFIG_TOKEN.upper())
def test_any_string_over_http_is_401_unless_a_live_token(hub: Hub, presented: str) -> None:
    live = {CONFIG_TOKEN, hub.issued()}
    for candidate in (presented, hub.issued()[:-1] + presented[:1]):
        answer = hub.events(candidate).status_code
        assert answer == (202 if candidate in live else 401), (candidate, answer)


# -- the registry itself --------------------------------------------------------------------
@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.dispose()


def test_any_string_is_refused_unless_issued_or_configured_and_live(store: Store) -> None:
    live_row, live = issue(store, "tms", ["events:write"], "test")
    revoked_row, revoked = issue(store, "tms", ["events:write"], "test")
    revoke(store, revoked_row.id, "test")
    _, expired = issue(store, "tms", ["events:write"], "test", expires_in=timedelta(seconds=1))
    _, orphan = issue(store, "gone", ["events:write"], "test")  # partner no longer configured
    configured = "cfg-" + secrets.token_urlsafe(32)
    old_configured = "cfg-" + secrets.token_urlsafe(32)
    registry = TokenRegistry(
        store,
        {
            token_hash(configured): TokenGrant("tms", frozenset({"events:write"})),
            token_hash(old_configured): TokenGrant(
                "tms", frozenset({"events:write"}), expires_at=time.time() - 1
            ),
        },
        partners=["tms"],
    )
    time.sleep(1.1)  # `expired` is past its expiry
    known = [live, revoked, expired, orphan, configured, old_configured]
    accepted = {live, configured}

    mutations = st.sampled_from(known).flatmap(
        lambda t: st.sampled_from(
            [t[:-1], t + "A", t[1:], " " + t, t.swapcase(), t[:-1] + chr(ord(t[-1]) ^ 1)]
        )
    )

    @settings(max_examples=600, deadline=None)
    @given(presented=st.one_of(st.text(), st.sampled_from(known), mutations))
    def check(presented: str) -> None:
        try:
            grant = registry.lookup(presented, "batch")
        except TokenRejected as exc:
            assert presented not in accepted, exc.reason
            assert str(exc).startswith("the bearer token ")  # a fixed message, never the text
        else:
            assert presented in accepted
            assert grant.partner == "tms"

    check()
    assert registry.lookup(live, "batch").token_id == live_row.id


def test_last_use_is_written_once_a_minute_and_failures_once_per_round(store: Store) -> None:
    row, token = issue(store, "tms", ["events:write"], "test")
    registry = TokenRegistry(store, {}, partners=["tms"])
    for _ in range(1000):
        registry.lookup(token, "batch")
    for _ in range(300):
        with pytest.raises(TokenRejected):
            registry.lookup("imt_" + secrets.token_urlsafe(32), "read", partner="tms")
    assert _last_used(store, row.id) is None  # nothing is written on the request path
    with store.read() as conn:
        assert conn.execute(select(audit).where(audit.c.action == "auth.failed")).first() is None

    registry.flush()
    first = _last_used(store, row.id)
    assert first is not None
    time.sleep(0.01)
    registry.lookup(token, "batch")
    registry.flush()  # the minute has not passed: no second write
    assert _last_used(store, row.id) == first
    registry.flush(force=True)  # the hub stopping writes what is pending
    later = _last_used(store, row.id)
    assert later is not None and later > first

    with store.read() as conn:
        (entry,) = conn.execute(select(audit).where(audit.c.action == "auth.failed"))
    detail = json.loads(entry.detail)
    assert (entry.actor, entry.subject, detail["route"], detail["reason"], detail["count"]) == (
        "hub:auth",
        "tms",
        "read",
        "unknown",
        300,
    )


def test_a_partner_name_a_client_made_up_is_not_audited(store: Store) -> None:
    registry = TokenRegistry(store, {}, partners=["tms"])
    for i in range(50):
        with pytest.raises(TokenRejected):
            registry.lookup(None, "edi", partner=f"made-up-{i}")
    registry.flush(force=True)
    with store.read() as conn:
        (entry,) = conn.execute(select(audit).where(audit.c.action == "auth.failed"))
    assert entry.subject is None and json.loads(entry.detail)["count"] == 50


def test_configured_tokens_work_when_the_store_does_not_answer() -> None:
    down = Store("postgresql://intermodal@127.0.0.1:1/nowhere")
    configured = "cfg-" + secrets.token_urlsafe(32)
    registry = TokenRegistry(
        down, {token_hash(configured): TokenGrant("tms", frozenset())}, partners=["tms"]
    )
    try:
        assert registry.lookup(configured, "batch").partner == "tms"
        with pytest.raises(TokensUnavailable):
            registry.lookup("imt_" + secrets.token_urlsafe(32), "batch")
    finally:
        down.dispose()


def test_a_revocation_is_seen_within_the_bound(store: Store) -> None:
    row, token = issue(store, "tms", ["events:write"], "test")
    registry = TokenRegistry(store, {}, partners=["tms"])
    registry.lookup(token, "batch")
    revoke(store, row.id, "test")
    started = time.monotonic()
    while True:
        try:
            registry.lookup(token, "batch")
        except TokenRejected as exc:
            assert exc.reason == "revoked"
            break
        assert time.monotonic() - started <= MAX_AGE_SECONDS + 0.5
        time.sleep(0.1)
    assert [t.status() for t in list_tokens(store)] == ["revoked"]


def _last_used(store: Store, token_id: str) -> str | None:
    with store.read() as conn:
        return conn.execute(
            select(tokens.c.last_used_at).where(tokens.c.id == token_id)
        ).scalar_one()


# -- configured tokens ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x", "be at least 32 characters (this one has 1)"),
        ("tms-token-0123456789-0123456789", "be at least 32 characters (this one has 31)"),
        ("ab" * 20, "use at least 8 different characters"),
    ],
)
def test_a_short_or_repetitive_configured_token_is_refused(
    make_settings: Callable[..., Settings], value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(
            {"partners": {"tms": {"tokens": [{"token": "env:TOK_SHORT"}]}}},
            env={"TOK_SHORT": value},
        )
    assert f"partners.tms.tokens.0.token: a token must {problem}" in str(raised.value)
    assert value not in str(raised.value)


def test_a_short_admin_token_is_refused(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match=r"hub.admin_token: a token must be at least 32"):
        make_settings({"hub": {"admin_token": "env:TOK_ADMIN"}}, env={"TOK_ADMIN": "admin"})


def test_configured_expiry_takes_a_date_or_a_zoned_time(
    make_settings: Callable[..., Settings],
) -> None:
    def expiry(value: Any) -> float | None:
        settings = make_settings(
            {"partners": {"tms": {"tokens": [{"token": "env:TOK_E", "expires_at": value}]}}},
            env={"TOK_E": CONFIG_TOKEN},
        )
        return settings.tokens[token_hash(CONFIG_TOKEN)].expires_at

    assert expiry("2027-03-31") == datetime(2027, 3, 31, tzinfo=UTC).timestamp()
    assert expiry("2027-03-31T18:00:00+02:00") == datetime(2027, 3, 31, 16, tzinfo=UTC).timestamp()
    with pytest.raises(ConfigError, match="expires_at"):
        expiry("2027-03-31T18:00:00")  # no zone: which evening?


def test_generate_prints_a_token_the_configuration_accepts(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    printed = runner.invoke(app, ["token", "generate"])
    token = printed.stdout.strip()
    assert printed.exit_code == 0 and token.startswith("imt_")
    out = tmp_path / "tms.token"
    assert runner.invoke(app, ["token", "generate", "--out", str(out)]).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600
    settings = make_settings(
        {"partners": {"tms": {"tokens": [{"token": f"file:{out}"}]}}},
    )
    assert settings.tokens[token_hash(out.read_text().strip())].partner == "tms"
