"""Logs: personal data and secrets never reach a log line; every line about a message
carries its correlation id, and its shipment key where there is one.

The redactor is tested on generated shapes (hypothesis: e-mails, phone numbers in the
ways people write them, street addresses in several countries' styles) inside ordinary
log text, which must survive. The scenario test runs the hub at debug level through a
day's worth of personal data: shipments with parties and stops (names, streets, phones,
e-mails), milestones whose reason quotes a phone number, and a receiver whose error
answers echo the customer record and a configured secret back (as badly written
receivers do), so the dead letters' errors carry all of it to the log.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.config import Settings
from intermodal.observe.logs import configure_logging, redact, redact_value
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret
from tests.observe.helpers import milestone, send_webhook

# -- the redactor ---------------------------------------------------------------------------
SEPARATORS = st.sampled_from([" ", "-", ".", ""])


@st.composite
def phones(draw: st.DrawFn) -> str:
    groups = draw(st.lists(st.from_regex(r"\d{2,4}", fullmatch=True), min_size=2, max_size=4))
    separator = draw(st.sampled_from([" ", "-", "."]))
    number = separator.join(groups)
    area = draw(st.from_regex(r"\d{2,4}", fullmatch=True))
    area = f"({area})" if draw(st.booleans()) else area
    country = draw(st.one_of(st.just(""), st.from_regex(r"\+\d{1,3} ", fullmatch=True)))
    return f"{country}{area}{draw(SEPARATORS) or ' '}{number}"


WORDS = st.from_regex(r"[A-Z][a-z]{2,9}", fullmatch=True)
SUFFIXES = st.sampled_from(
    ["Street", "St", "St.", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Lane", "Drive",
     "Way", "Court", "Place", "Quay", "Wharf"]
)  # fmt: skip


@st.composite
def addresses(draw: st.DrawFn) -> str:
    number = draw(st.integers(1, 99999))
    letter = draw(st.sampled_from(["", "A", "b"]))
    words = " ".join(draw(st.lists(WORDS, min_size=1, max_size=3)))
    style = draw(st.sampled_from(["anglo", "german", "french", "italian"]))
    if style == "anglo":
        return f"{number}{letter} {words} {draw(SUFFIXES)}"
    if style == "german":
        root = draw(st.from_regex(r"[A-Z][a-z]{3,9}", fullmatch=True))
        ending = draw(st.sampled_from(["strasse", "straße", "weg", "platz", "gasse", "allee"]))
        return f"{root}{ending} {number}{letter}"
    if style == "french":
        return f"{number} rue de la {words}"
    return f"via {words} {number}"


CONTEXT = "{0} at 2026-11-23T10:00:00.123456Z for cmd_0a1b2c3d (HTTP 503, 3 attempts): {1}"
KEPT = ("2026-11-23T10:00:00.123456Z", "cmd_0a1b2c3d", "HTTP 503", "3 attempts")


@settings(max_examples=300, deadline=None)
@given(email=st.emails())
def test_emails_are_redacted(email: str) -> None:
    out = redact(CONTEXT.format("customer", f"write to {email}."))
    assert email not in out
    assert "@" not in out
    for kept in KEPT:
        assert kept in out


# A date (2026-11-23) is kept on purpose: logs are full of them, and a phone number is
# never written as four, two and two digits with dashes.
DATE = re.compile(r"\d{4}-\d\d-\d\d")


@settings(max_examples=300, deadline=None)
@given(phone=phones().filter(lambda p: not DATE.fullmatch(p)))
def test_phone_numbers_are_redacted(phone: str) -> None:
    out = redact(CONTEXT.format("receiver", f"call {phone} before noon"))
    digits = re.sub(r"\D", "", phone)
    assert phone not in out
    assert digits not in re.sub(r"\D", "", out.split("call", 1)[1])
    for kept in KEPT:
        assert kept in out


@settings(max_examples=300, deadline=None)
@given(address=addresses())
def test_street_addresses_are_redacted(address: str) -> None:
    out = redact(CONTEXT.format("deliver", f"to {address}, Springfield"))
    assert address not in out
    assert "<address>" in out
    for kept in KEPT:
        assert kept in out


@given(
    street=addresses(),
    phone=phones(),
    email=st.emails(),
    name=st.from_regex(r"[A-Z][a-z]{2,8} [A-Z][a-z]{2,8}", fullmatch=True),
)
@settings(max_examples=100, deadline=None)
def test_personal_fields_are_redacted_in_structures_and_in_quoted_text(
    street: str, phone: str, email: str, name: str
) -> None:
    party = {
        "name": "Acme",
        "contact": name,
        "email": email,
        "phone": phone,
        "address": {"street": street, "city": "Boston", "country": "US"},
    }
    structured = redact_value("party", {"party": party, "count": 3})
    assert structured["party"]["contact"] == "<redacted>"
    assert structured["party"]["address"] == "<redacted>"
    assert structured["count"] == 3
    for text in (json.dumps(party), repr(party), " ".join(f"{k}={v}" for k, v in party.items())):
        out = redact(text)
        for secret in (name, email, street):
            assert secret not in out, (secret, out)
        assert phone not in out


def test_ordinary_log_text_is_left_alone() -> None:
    for text in (
        "command delivered: ok",
        "HTTP 503: upstream unavailable (after 5 attempts)",
        "applied 1000 events in 12.5 ms, 3 late, 2 duplicate",
        "shipment SHP-000123 delivered at 2026-11-23T10:00:00Z",
        "rcpt_01a22a9d9377d95bf6fca6f0a3669750 batch 500 of 2000",
    ):
        assert redact(text) == text


# -- the scenario ---------------------------------------------------------------------------
PEOPLE = [
    ("Jane Doe", "jane.doe@example.com", "+44 20 7946 0958", "12 Harbour Road"),
    ("Jürgen Weiß", "j.weiss@spedition.example.de", "+49 (030) 1234-5678", "Hauptstrasse 5"),
    ("Marie Curie", "marie@portail.example.fr", "01 23 45 67 89", "12 rue de la Paix"),
    ("Bob Smith", "bob+ops@shipper.example.com", "(617) 555-0142", "221B Baker Street"),
]
TOKEN = "tms-token-1f0c9a7e55d3-for-the-log-tests"


def upsert(key: str, who: tuple[str, str, str, str], other: tuple[str, str, str, str]) -> bytes:
    def party(role: str, p: tuple[str, str, str, str]) -> dict[str, Any]:
        name, email, phone, street = p
        return {
            "role": role,
            "name": name,
            "email": email,
            "phone": phone,
            "address": {"street": street, "city": "Springfield", "country": "US"},
        }

    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"up-{key}",
            "source": "carrier",
            "type": "intermodal.shipment.upserted",
            "subject": key,
            "time": "2026-11-23T07:00:00Z",
            "data": {
                "key": key,
                "parties": [party("shipper", who), party("consignee", other)],
                "stops": [
                    {"sequence": 1, "kind": "pickup", "address": party("shipper", who)["address"]},
                    {
                        "sequence": 2,
                        "kind": "delivery",
                        "address": party("consignee", other)["address"],
                        "party": party("consignee", other),
                    },
                ],
            },
        }
    )


def echoing_receiver(secret_values: list[str]) -> Starlette:
    """A portal that refuses every command, quoting its customer record and its config."""
    person = PEOPLE[0]

    async def hooks(request: Request) -> Response:
        body = (await request.body()).decode()
        return JSONResponse(
            {
                "error": f"customer {person[0]} ({person[1]}, {person[2]}) at {person[3]}"
                f" is not registered; configured with {' '.join(secret_values)}",
                "received": body[:120],
            },
            status_code=422,
        )

    return Starlette(routes=[Route("/hooks", hooks, methods=["POST"])])


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_no_personal_data_or_secret_in_any_log_line(
    log_lines: io.StringIO, make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    secret = new_secret()
    portal_secret = new_secret()
    with serve_in_thread(echoing_receiver([TOKEN, portal_secret])) as portal_url:
        settings = make_settings(
            {
                "hub": {
                    "database": sqlite_url,
                    "log_level": "debug",
                    "admin_token": ADMIN_TOKEN_REF,
                },
                "partners": {
                    "carrier": {"webhook_secrets": ["env:LOG_CARRIER_S"]},
                    "tms": {"tokens": [{"token": "env:LOG_TMS_T"}]},
                },
                "endpoints": {
                    "portal": {
                        "url": f"{portal_url}/hooks",
                        "secret": "env:LOG_PORTAL_S",
                        "max_attempts": 1,
                    }
                },
            },
            env={"LOG_CARRIER_S": secret, "LOG_TMS_T": TOKEN, "LOG_PORTAL_S": portal_secret},
        )
        with running_hub(settings) as url, httpx.Client(base_url=url) as client:
            for n, (key, a, b) in enumerate(
                [("SHP-L1", PEOPLE[0], PEOPLE[1]), ("SHP-L2", PEOPLE[2], PEOPLE[3])]
            ):
                body = upsert(key, a, b)
                assert send_webhook(client, "carrier", secret, body, f"u{n}").status_code == 202
            for n, key in enumerate(["SHP-L1", "SHP-L2"]):
                reason = f"consignee asks to call {PEOPLE[n][2]} at {PEOPLE[n][3]}"
                body = milestone(f"ex{n}", key, "exception", 9, reason=reason)
                corr = {"x-correlation-id": f"corr-log-{n}"}
                response = send_webhook(client, "carrier", secret, body, f"x{n}", corr)
                assert response.status_code == 202

            def applied() -> bool:  # a 202 is durable, not yet applied: the applier is apart
                return client.get("/v1/shipments/SHP-L1", headers=ADMIN).status_code == 200

            wait_until(applied, timeout=20)

            def dead_letters_logged() -> bool:
                return log_lines.getvalue().count('"command dead') >= 2

            wait_until(dead_letters_logged, timeout=20)
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]
    text = log_lines.getvalue()
    assert lines, "the scenario logged nothing"

    for name, email, phone, street in PEOPLE:
        assert email not in text
        assert phone not in text
        assert street not in text
    for value in (secret, secret.removeprefix("whsec_"), portal_secret, TOKEN):
        assert value not in text
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an e-mail address in clear"

    ours = [line for line in lines if str(line.get("logger", "")).startswith("intermodal")]
    dead = [line for line in ours if str(line.get("event", "")).startswith("command dead")]
    assert len(dead) == 2
    assert {line["shipment_key"] for line in dead} == {"SHP-L1", "SHP-L2"}
    assert {line["correlation_id"] for line in dead} == {"corr-log-0", "corr-log-1"}
    # The kind of failure, not the receiver's answer (which quotes the customer): the
    # whole reason stays with the dead letter.
    assert {line["event"] for line in dead} == {"command dead: HTTP 422"}
    for name, _email, _phone, _street in PEOPLE:
        assert name not in text
    accepted = [line for line in ours if line.get("event") == "webhook accepted"]
    assert len(accepted) == 4
    assert sorted(line["shipment_key"] for line in accepted) == ["SHP-L1"] * 2 + ["SHP-L2"] * 2
    assert all(line["receipt_id"].startswith("rcpt_") for line in accepted)
    for line in ours:
        assert line.get("correlation_id"), f"no correlation id: {line}"
        if "command_id" in line:
            assert line.get("shipment_key"), f"a command's line without its shipment: {line}"


class ExplodingSink:
    """A sink with a bug whose exception quotes the customer (an extension point, as a
    connector would register one)."""

    def __init__(self, endpoint: Any, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint

    async def deliver(self, commands: Any) -> list[Any]:
        name, email, phone, street = PEOPLE[3]
        raise RuntimeError(f"cannot route to {name} <{email}>, {street}, tel. {phone}")

    async def aclose(self) -> None:
        return None


def test_a_failing_sink_logs_its_message_without_personal_data(
    log_lines: io.StringIO,
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intermodal.outbox.sinks import SinkKind
    from intermodal.wiring import SINK_KINDS

    monkeypatch.setitem(SINK_KINDS, "exploding", SinkKind(ExplodingSink))
    secret = new_secret()
    settings = make_settings(
        {
            "hub": {"database": sqlite_url},
            "partners": {"carrier": {"webhook_secrets": ["env:LOG_CARRIER_S"]}},
            "endpoints": {"broken": {"kind": "exploding", "url": "http://127.0.0.1:9/x"}},
        },
        env={"LOG_CARRIER_S": secret},
    )
    with running_hub(settings) as url, httpx.Client(base_url=url) as client:
        body = milestone("e-boom", "SHP-BOOM", "picked_up", 9)
        corr = {"x-correlation-id": "corr-boom"}
        assert send_webhook(client, "carrier", secret, body, "m-boom", corr).status_code == 202
        wait_until(lambda: "sink broken failed" in log_lines.getvalue(), timeout=20)
    text = log_lines.getvalue()
    _name, email, phone, street = PEOPLE[3]
    for personal in (email, phone, street):
        assert personal not in text
    (line,) = [
        json.loads(raw)
        for raw in text.splitlines()
        if raw.strip() and json.loads(raw).get("event") == "sink broken failed"
    ]
    assert line["correlation_id"] == "corr-boom"
    assert line["shipment_key"] == "SHP-BOOM"
    assert "RuntimeError" in line["exception"]
