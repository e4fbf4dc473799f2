"""No personal datum and no credential in any log line, the server's own included.

The end-to-end test plants one customer (a distinctive name, e-mail, phone number and
street) in a real `intermodal serve` on SQLite and on PostgreSQL, at debug level, and
drives every kind of failure at it: events refused at the door, a batch with a bad event,
a bad signature, a message the database refuses at apply (a trigger stands for a
constraint the payload breaks), commands a receiver refuses quoting the customer back,
an endpoint that is down, malformed and oversized requests. Then every line the process
wrote (its stderr: uvicorn, SQLAlchemy, the applier process, Python itself) must be
JSON, and none may hold the datum.

The pieces are tested on their own too: URLs with credentials are refused in the
configuration and masked in any text; tracebacks of payload failures leave the messages
out; a correlation id the redactor would mask is replaced.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.api.http import correlation_id, plain_correlation
from intermodal.config import ConfigError, Settings, load_config
from intermodal.observe.logs import (
    CREDENTIAL_PARAMETERS,
    error_code,
    exception_outline,
    redact,
    redacts_token,
    safe_url,
)
from intermodal.outbox.sinks import endpoint_problems
from intermodal.security.secrets import Secret, remember_resolved, webhook_key
from intermodal.store import open_store
from intermodal.store.tables import dead_letters, inbox
from intermodal.wiring import SINK_KINDS
from intermodal_sim.testing import free_port, running_hub, serve_in_thread, wait_until
from tests.conftest import new_secret
from tests.hub_process import HUB_BIN, hub_process, signed_webhook
from tests.observe.helpers import milestone, send_webhook

# -- credentials in URLs ---------------------------------------------------------------------
USERINFO = st.from_regex(r"[A-Za-z0-9._~-]{1,16}", fullmatch=True)
CREDENTIAL_NAMES = st.sampled_from(CREDENTIAL_PARAMETERS.split("|"))
VALUES = st.from_regex(r"[A-Za-z0-9._~-]{6,24}", fullmatch=True)


def _case(name: str, upper: list[bool]) -> str:
    return "".join(c.upper() if up else c for c, up in zip(name, upper * len(name), strict=False))


@given(
    user=USERINFO,
    password=VALUES,
    name=CREDENTIAL_NAMES,
    value=VALUES,
    upper=st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_credentials_in_a_url_never_survive_redaction(
    user: str, password: str, name: str, value: str, upper: list[bool]
) -> None:
    url = f"https://{user}:{password}@tms.example.com/hooks?shipment=1&{_case(name, upper)}={value}"
    line = f'HTTP Request: POST {url} "HTTP/1.1 200 OK"'
    masked = redact(line)
    assert f"{user}:{password}@" not in masked and f"={value}" not in masked
    assert "tms.example.com/hooks?shipment=1&" in masked  # the rest stays readable
    assert safe_url(url) == "https://tms.example.com/hooks"


@given(user=USERINFO, password=VALUES, name=CREDENTIAL_NAMES, value=VALUES)
def test_an_endpoint_url_with_credentials_is_refused_without_echoing_them(
    user: str, password: str, name: str, value: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("urls")
    for url, named in (
        (f"https://{user}:{password}@tms.example.com/hooks", "(user:password@)"),
        (f"https://tms.example.com/hooks?a=1&{name.upper()}={value}", name.upper()),
    ):
        path = folder / "hub.yaml"
        path.write_text(json.dumps({"endpoints": {"tms": {"url": url}}}), encoding="utf-8")
        with pytest.raises(ConfigError) as raised:
            load_config(path)
        message = str(raised.value)
        assert "endpoints.tms.url: no credentials in the URL" in message
        assert named in message
        assert password not in message and value not in message


class HeaderReceiver:
    """A receiver that wants an API key in a header, and notes what it was sent."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []

    def app(self) -> Starlette:
        async def hooks(request: Request) -> Response:
            self.keys.append(request.headers.get("x-api-key"))
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hooks", hooks, methods=["POST"])])


def test_a_webhook_endpoint_takes_its_credentials_as_header_references(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    secret, key = new_secret(), "portal-api-key-7f3a9c21"
    receiver = HeaderReceiver()
    with serve_in_thread(receiver.app()) as portal:
        settings = make_settings(
            {
                "hub": {"database": sqlite_url},
                "partners": {"carrier": {"webhook_secrets": ["env:RE_CARRIER_S"]}},
                "endpoints": {
                    "portal": {
                        "url": f"{portal}/hooks",
                        "options": {"headers": {"X-Api-Key": "env:RE_PORTAL_KEY"}},
                    }
                },
            },
            env={"RE_CARRIER_S": secret, "RE_PORTAL_KEY": key},
        )
        assert endpoint_problems(SINK_KINDS, settings.endpoints) == []
        with running_hub(settings) as url, httpx.Client(base_url=url) as client:
            body = milestone("e-hdr", "SHP-HDR", "picked_up", 9)
            assert send_webhook(client, "carrier", secret, body, "m-hdr").status_code == 202
            wait_until(lambda: receiver.keys == [key], timeout=20)


def test_header_options_are_checked_at_start(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        {
            "endpoints": {
                "portal": {
                    "url": "https://portal.example.com/hooks",
                    "options": {
                        "headers": {
                            "X-Api-Key": "env:RE_NOT_SET_ANYWHERE",
                            "Webhook-Signature": "env:RE_PORTAL_KEY",
                            "X-Literal": "the-key-itself",
                        },
                        "retries": 3,
                    },
                }
            }
        },
        env={"RE_PORTAL_KEY": "portal-api-key-7f3a9c21"},
    )
    (problem,) = endpoint_problems(SINK_KINDS, settings.endpoints)
    assert "endpoints.portal.options.headers.X-Literal: String should match pattern" in problem
    assert "endpoints.portal.options.retries: Extra inputs are not permitted" in problem
    settings = make_settings(
        {
            "endpoints": {
                "portal": {
                    "url": "https://portal.example.com/hooks",
                    "options": {
                        "headers": {
                            "X-Api-Key": "env:RE_NOT_SET_ANYWHERE",
                            "Webhook-Signature": "env:RE_PORTAL_KEY",
                        }
                    },
                }
            }
        },
        env={"RE_PORTAL_KEY": "portal-api-key-7f3a9c21"},
    )
    (problem,) = endpoint_problems(SINK_KINDS, settings.endpoints)
    assert "options.headers.X-Api-Key: environment variable RE_NOT_SET_ANYWHERE" in problem
    assert "options.headers.Webhook-Signature: the hub sets this header itself" in problem
    assert "portal-api-key-7f3a9c21" not in problem


# -- tracebacks, error codes, correlation ids ------------------------------------------------
def test_an_outline_names_where_and_what_but_never_the_message() -> None:
    def parse(party: dict[str, str]) -> None:
        raise ValueError(f"no such customer {party['name']}")

    try:
        try:
            parse({"name": NAME})  # the source lines quote code, never values
        except ValueError as exc:
            raise RuntimeError(f"apply failed for {NAME}") from exc
    except RuntimeError as exc:
        outline = exception_outline(exc)
    assert "Quixby" not in outline
    assert "builtins.ValueError (message left out of the log)" in outline
    assert "builtins.RuntimeError (message left out of the log)" in outline
    assert "in parse" in outline and "which caused" in outline


def test_a_delivery_failure_is_logged_by_its_kind() -> None:
    assert error_code('HTTP 422: {"customer": "Zebulon Quixby"}') == "HTTP 422"
    assert error_code("ConnectError: [Errno 111] Connection refused") == "ConnectError"
    assert error_code("odoo mapping: no partner Zebulon Quixby") == "odoo mapping"
    assert error_code("Zebulon Quixby is not registered") == "error"


TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"
SECRET = "corr-secret-5e1d0c9a"


@given(st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=64))
def test_the_cheap_token_check_agrees_with_the_redactor(token: str) -> None:
    remember_resolved([SECRET])
    assert redacts_token(token) == (redact(token) != token)


@given(
    st.one_of(
        st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=80),
        st.text(max_size=80),
        st.from_regex(r"\+?\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4}", fullmatch=True),
    )
)
def test_a_correlation_id_is_kept_only_when_plain_and_unmasked(given_id: str) -> None:
    remember_resolved([SECRET])
    kept = plain_correlation(given_id)
    answered = correlation_id({"x-correlation-id": given_id})
    if kept is None:
        assert answered != given_id and answered.startswith("corr_")
    else:
        assert answered == given_id and redact(given_id) == given_id
        assert 1 <= len(given_id) <= 64 and set(given_id) <= set(TOKEN_ALPHABET)
    assert plain_correlation("347-555-0199") is None
    assert plain_correlation(f"x.{SECRET}") is None
    assert plain_correlation("corr-log-1\n") is None
    assert plain_correlation("order-2026-11-23.42") == "order-2026-11-23.42"


# -- the planted customer ---------------------------------------------------------------------
NAME = "Zebulon Quixby-Marchetti"
EMAIL = "zebulon.quixby@planted-customer.example"
PHONE = "+39 347 555 0199"
STREET = "88 Quixby Wharf Road"
TRACES = (
    "Zebulon",
    "Quixby",
    "Marchetti",
    EMAIL,
    "zebulon.quixby",
    "planted-customer",
    PHONE,
    "347 555 0199",
    "3475550199",
    "347-555-0199",
)
"""Every piece of the datum that must not show in any line."""
TMS_TOKEN = "planted-tms-token-4b8e2f61-0123456"


def _party(role: str) -> dict[str, Any]:
    return {
        "role": role,
        "name": NAME,
        "email": EMAIL,
        "phone": PHONE,
        "address": {"street": STREET, "city": "Quixbyton", "country": "IT"},
    }


def _upsert(event_id: str, key: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "carrier",
        "type": "intermodal.shipment.upserted",
        "subject": key,
        "time": "2026-11-23T07:00:00Z",
        "data": {
            "key": key,
            "parties": [_party("customer"), _party("consignee")],
            "stops": [
                {"sequence": 1, "kind": "pickup", "address": _party("customer")["address"]},
                {
                    "sequence": 2,
                    "kind": "delivery",
                    "address": _party("consignee")["address"],
                    "party": _party("consignee"),
                },
            ],
        },
    }


def _milestone(event_id: str, key: str, name: str, **data: Any) -> dict[str, Any]:
    at = "2026-11-23T10:00:00Z"
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "carrier",
        "type": "intermodal.shipment.milestone",
        "subject": key,
        "time": at,
        "data": {"milestone": name, "occurred_at": at, **data},
    }


def echoing_receiver() -> Starlette:
    """A portal that refuses every command quoting the customer record back, as badly
    written receivers do."""

    async def hooks(request: Request) -> Response:
        body = (await request.body()).decode()
        return JSONResponse(
            {
                "error": f"customer {NAME} <{EMAIL}>, {PHONE}, {STREET} is not registered",
                "received": body[:200],
            },
            status_code=422,
        )

    return Starlette(routes=[Route("/hooks", hooks, methods=["POST"])])


def _refuse_at_apply(db_url: str, subject: str) -> None:
    """A trigger that makes the database refuse the events of `subject`: a write the
    payload breaks at apply, as a constraint or a value the column cannot hold would."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database), timeout=30) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse_planted BEFORE INSERT ON events"
                f" WHEN NEW.subject = '{subject}'"
                " BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
            )
        return
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_planted() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF NEW.subject = '{subject}' THEN"
            " RAISE EXCEPTION 'refused by the test trigger'; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_planted BEFORE INSERT ON events"
            " FOR EACH ROW EXECUTE FUNCTION refuse_planted()"
        )


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
            return sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return b""


@pytest.fixture
def portal() -> Iterator[str]:
    with serve_in_thread(echoing_receiver()) as url:
        yield url


def test_a_planted_customer_never_reaches_a_log_line(
    db_url: str, portal: str, tmp_path: Path
) -> None:
    secret = new_secret()
    config = {
        "hub": {"database": db_url, "limits": {"max_header_bytes": 4096}},
        "partners": {
            "carrier": {"webhook_secrets": ["env:PLANT_CARRIER_S"]},
            "tms": {"tokens": [{"token": "env:PLANT_TMS_T"}]},
        },
        "endpoints": {
            "portal": {"url": f"{portal}/hooks", "max_attempts": 1},
            "down": {"url": f"http://127.0.0.1:{free_port()}/hooks", "max_attempts": 1},
        },
    }
    env = {"PLANT_CARRIER_S": secret, "PLANT_TMS_T": TMS_TOKEN}
    key = webhook_key(Secret(secret))
    with hub_process(tmp_path, config, env, log_level="debug") as hub:
        _refuse_at_apply(db_url, "SHP-REFUSED")
        with httpx.Client(base_url=hub.url, timeout=10) as client:

            def webhook(message_id: str, event: dict[str, Any], **headers: str) -> int:
                body, signed = signed_webhook(key, message_id, event)
                answer = client.post(
                    "/v1/webhooks/carrier", content=body, headers={**signed, **headers}
                )
                return answer.status_code

            assert webhook("m-up", _upsert("e-up", "SHP-PLANTED")) == 202
            reason = f"call {NAME} on {PHONE} at {STREET}"
            assert webhook("m-ex", _milestone("e-ex", "SHP-PLANTED", "exception", reason=reason),
                           **{"x-correlation-id": "347-555-0199"}) == 202  # fmt: skip
            assert webhook("m-pu", _milestone("e-pu", "SHP-PLANTED", "picked_up")) == 202
            assert webhook("m-refused", _upsert("e-refused", "SHP-REFUSED")) == 202
            bad = _milestone("e-bad", "SHP-PLANTED", "delivered", signed_by={"name": NAME})
            assert webhook("m-bad", bad) == 422
            assert webhook("m-type", {**bad, "type": {"customer": NAME, "email": EMAIL}}) == 422
            forged = client.post(
                "/v1/webhooks/carrier",
                content=orjson.dumps(_upsert("e-forged", "SHP-PLANTED")),
                headers={
                    "content-type": "application/json",
                    "webhook-id": "m-forged",
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,AAAA",
                },
            )
            assert forged.status_code in (400, 401)
            batch = client.post(
                "/v1/events",
                content=orjson.dumps(
                    [
                        _milestone("e-b1", "SHP-PLANTED", "in_transit", reason=reason),
                        {**bad, "id": "e-b2", "time": {"who": NAME}},
                    ]
                ),
                headers={
                    "authorization": f"Bearer {TMS_TOKEN}",
                    "content-type": "application/json",
                },
            )
            assert batch.status_code == 202, batch.text
        # The server's own refusals: a malformed request, a header section too large.
        assert _raw(hub.port, f"GET /{NAME} HTTP/1.1\r\n\x01{EMAIL}\r\n\r\n".encode())
        huge = f"GET /healthz HTTP/1.1\r\nx-customer: {NAME} {EMAIL} {'x' * 8000}\r\n\r\n"
        assert _raw(hub.port, huge.encode()).startswith(b"HTTP/1.1 431")

        store = open_store(db_url, migrate=False)
        try:

            def settled() -> bool:
                with store.read() as conn:
                    statuses = dict(conn.execute(select(inbox.c.message_id, inbox.c.status)).all())
                    dead = conn.scalar(select(func.count()).select_from(dead_letters))
                return (
                    statuses.get("m-refused") == "rejected"
                    and dead >= 2  # picked_up, to the portal and to the endpoint that is down
                    and all(s != "pending" for s in statuses.values())
                )

            wait_until(settled, timeout=60)
        finally:
            store.dispose()
    output = hub.output()
    lines = output.splitlines()
    assert lines[0].startswith("intermodal listening on ")
    parsed = []
    for line in lines[1:]:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line that is not JSON (so not redacted): {line[:300]}")
    for piece in TRACES:
        assert piece not in output, f"{piece!r} in the log"
    assert TMS_TOKEN not in output and secret.removeprefix("whsec_") not in output
    # The failures did happen, and are logged by ids and kinds.
    events = [str(line.get("event")) for line in parsed]
    rejected = [
        line for line in parsed if str(line.get("event")).startswith("inbox message rejected")
    ]
    assert rejected and all(
        line.get("receipt_id") and line.get("correlation_id") for line in rejected
    )
    assert "(message left out of the log)" in rejected[0]["exception"]
    assert any(e == "command dead: HTTP 422" for e in events)
    assert any(e.startswith("command dead: ") and "HTTP" not in e for e in events)
    assert any(line.get("logger") == "uvicorn.error" for line in parsed)  # the 400
    assert not any(line.get("correlation_id") == "347-555-0199" for line in parsed)


def test_the_server_logs_nothing_but_json_even_when_it_cannot_start(tmp_path: Path) -> None:
    """A crash at start (the port is taken) is a JSON line too, not a printed traceback."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        path = tmp_path / "hub.yaml"
        path.write_text(
            json.dumps({"hub": {"database": f"sqlite:///{tmp_path / 'hub.db'}", "workers": 1}}),
            encoding="utf-8",
        )
        done = subprocess.run(
            [HUB_BIN, "serve", "--config", str(path), "--port", str(port)],
            capture_output=True,
            timeout=60,
            text=True,
        )
    finally:
        taken.close()
    assert done.returncode != 0
    for line in done.stderr.splitlines():
        json.loads(line)
    assert any("address already in use" in line.lower() for line in done.stderr.splitlines())
