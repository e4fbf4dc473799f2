"""Hostile input through the real HTTP app on loopback, on SQLite and on PostgreSQL.

Any JSON value in any field of an event (sent alone as a webhook, or as one event of a
batch), and any text as a path or query parameter, gets a 2xx or a 4xx naming what is
wrong, never a 5xx and never a reset connection. A 202 means the message applies: every
accepted message is applied, none rejected later. A personal datum planted in a refused
payload appears in no answer. One partner's batch with NUL in it does not fail another
partner's webhooks committed at the same time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intermodal.config import load_config
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import new_secret, pg_database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
ADMIN = {"authorization": "Bearer admin-token-0123456789abcdefghijklm"}
BATCH = {"authorization": "Bearer tms-token-0123456789abcdefghijklmn"}

# Personal data planted in every template: no refusal may quote any of it back.
PLANTED = ("Ada Plantedname", "ada.planted@example.com", "+31 555 0142 77", "Plantedstraat 9")
NAME, EMAIL, PHONE, STREET = PLANTED
AT = "2026-11-23T10:00:00Z"


class Hub:
    """A running hub and the ways in: signed webhooks (canonical and mapped), batches."""

    def __init__(self, url: str, secret: str) -> None:
        self.key = webhook_key(Secret(secret))
        self.client = httpx.Client(base_url=url, timeout=60)

    def webhook(
        self, body: bytes, partner: str = "acme", msg_id: str | None = None
    ) -> httpx.Response:
        msg_id = msg_id or f"wh-{uuid.uuid4().hex}"
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.key, msg_id, ts, body),
        }
        return self.client.post(f"/v1/webhooks/{partner}", content=body, headers=headers)

    def batch(self, body: bytes) -> httpx.Response:
        headers = {**BATCH, "content-type": "application/json"}
        return self.client.post("/v1/events", content=body, headers=headers)

    def applied(self, receipt_id: str) -> str:
        """The receipt's status once the applier has taken the message."""
        seen: dict[str, Any] = {}

        def taken() -> bool:
            seen.update(self.client.get(f"/v1/receipts/{receipt_id}", headers=ADMIN).json())
            return seen.get("status") not in (None, "pending")

        wait_until(taken, timeout=30)
        assert not any(p in orjson.dumps(seen).decode() for p in PLANTED if seen.get("error"))
        return str(seen["status"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with contextlib.ExitStack() as stack:
        folder = tmp_path_factory.mktemp("hostile")
        database = (
            f"sqlite:///{folder / 'hub.db'}"
            if request.param == "sqlite"
            else stack.enter_context(pg_database())
        )
        secret = new_secret()
        for name, text in (
            ("acme.secret", secret),
            ("tms.token", "tms-token-0123456789abcdefghijklmn"),
            ("admin.token", "admin-token-0123456789abcdefghijklm"),
        ):
            (folder / name).write_text(text)
        shutil.copy(EXAMPLES / "swiftparcel" / "mapping.yaml", folder / "swift.yaml")
        config = {
            "hub": {"database": database, "admin_token": "file:admin.token"},
            "partners": {
                "acme": {"webhook_secrets": ["file:acme.secret"]},
                "swift": {"webhook_secrets": ["file:acme.secret"], "mapping": "swift.yaml"},
                "tms": {"tokens": [{"token": "file:tms.token"}]},
            },
        }
        (folder / "hub.yaml").write_text(yaml.safe_dump(config))
        with running_hub(load_config(folder / "hub.yaml")) as url:
            running = Hub(url, secret)
            yield running
            running.client.close()


# -- events with every field filled ---------------------------------------------------------


def _envelope(kind: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "placeholder",
        "source": "/carriers/acme",
        "type": f"intermodal.{kind}",
        "subject": subject,
        "time": AT,
        "datacontenttype": "application/json",
        "dataschema": "https://carrier.example/schemas/scan.json",
        "carrierref": "ref-1",
        "data": data,
    }


ADDRESS = {
    "street": STREET,
    "street2": "Floor 2",
    "city": "Rotterdam",
    "postal_code": "3011 AA",
    "region": "ZH",
    "country": "NL",
}
PARTY = {
    "role": "consignee",
    "name": NAME,
    "reference": "CUST-1",
    "odoo_partner_id": 7,
    "address": ADDRESS,
    "email": EMAIL,
    "phone": PHONE,
}
TEMPLATES: list[dict[str, Any]] = [
    _envelope(
        "shipment.milestone",
        "HOSTILE-1",
        {
            "milestone": "picked_up",
            "occurred_at": AT,
            "location": ADDRESS,
            "reason": "left the depot",
            "tracking_number": "1Z999",
        },
    ),
    _envelope(
        "shipment.upserted",
        "HOSTILE-2",
        {
            "key": "HOSTILE-2",
            "references": {
                "odoo_sale_order": "SO001",
                "odoo_picking": "WH/OUT/1",
                "carrier_tracking_numbers": ["1Z1", "1Z2"],
                "customer_reference": "PO-9",
            },
            "parties": [PARTY],
            "stops": [
                {
                    "sequence": 1,
                    "kind": "delivery",
                    "address": ADDRESS,
                    "party": PARTY,
                    "window": {"start": AT, "end": "2026-11-23T12:00:00+01:00"},
                }
            ],
            "service_level": "express",
            "incoterm": "DAP",
            "customs": {
                "state": "pending",
                "broker": "Brokers BV",
                "entry_number": "E-1",
                "reason": "papers",
                "occurred_at": AT,
            },
        },
    ),
    _envelope(
        "pod.received",
        "HOSTILE-3",
        {
            "delivered_at": AT,
            "signed_by": NAME,
            "document_url": "https://carrier.example/pod/1.pdf",
            "photo_urls": ["https://carrier.example/pod/1.jpg"],
            "note": f"left with {NAME}, {PHONE}",
        },
    ),
    _envelope(
        "charge.recorded",
        "HOSTILE-4",
        {
            "code": "FRT",
            "kind": "freight",
            "description": "line haul",
            "amount": {"amount": "120.50", "currency": "EUR"},
            "status": "provisional",
        },
    ),
    _envelope(
        "customs.updated",
        "HOSTILE-5",
        {
            "state": "hold",
            "broker": "Brokers BV",
            "entry_number": "E-2",
            "reason": f"importer {NAME} unknown",
            "occurred_at": AT,
        },
    ),
]


def _in_base64(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its data as `data_base64` (CloudEvents JSON format 3.1.2)."""
    encoded = base64.b64encode(orjson.dumps(event["data"])).decode()
    return {**{k: v for k, v in event.items() if k != "data"}, "data_base64": encoded}


TEMPLATES.append(_in_base64(TEMPLATES[1]))


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every member and item of a value, and a new member of every object."""
    if isinstance(value, dict):
        yield (*prefix, "zzextra")
        for key, member in value.items():
            yield (*prefix, key)
            yield from _paths(member, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


FIELDS = [(n, path) for n, template in enumerate(TEMPLATES) for path in _paths(template)]
HOLE = "\x01HOSTILE\x01"
HOLE_JSON = orjson.dumps(HOLE)

interesting_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\x1b[31m",
        "\ufeff\u202e",
        "\U0010ffff",
        "x" * 5000,
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0002-01-01T00:00:00Z",
        "2026-11-23T10:00:00Z",
        "2026-11-23 10:00:00Z",
        "2026-02-30T10:00:00Z",
        "1700000000",
        "NaN",
        "EUR",
        "booked",
        "intermodal.shipment.milestone",
        "intermodal.pod.received",
        "application/xml",
        "HOSTILE-1",
        "../../etc/passwd",
        "<script>alert(1)</script>",
        "'; DROP TABLE inbox; --",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    interesting_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
json_texts = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),  # the standard library writes any int
    st.integers(1, 1100).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([b"1e400", b"-0", b"123456789012345678901234567890", b"1E-400", b'"\\ud800"']),
)


def _hostile(template: int, path: tuple[str | int, ...], value: bytes) -> tuple[bytes, str]:
    """The template with `value` (JSON text) at `path`, a fresh event id unless the path
    is the id; returns the body and the event id sent."""
    event = json.loads(json.dumps(TEMPLATES[template]))
    event_id = f"h-{uuid.uuid4().hex}"
    event["id"] = event_id
    holder: Any = event
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = HOLE
    return orjson.dumps(event).replace(HOLE_JSON, value), event_id


def _named(problems: list[dict[str, Any]], message: str, path: tuple[str | int, ...]) -> bool:
    """Whether a refusal names the field at `path` (or a field holding it, or within it).
    A changed `type` makes the data another type's: its problems are the data's; a
    changed `subject` or `data.key` of an upsert is named at `data`, saying both; a
    null `data_base64` is no data at all, named at `data`, saying data_base64."""
    if path == ("type",):
        return bool(problems) or "type" in message
    wanted = ".".join(str(p) for p in path)
    for problem in problems:
        loc = str(problem["loc"])
        if loc[:1].isdigit():  # a batch's: the event's index first
            loc = loc.partition(".")[2]
        if loc and (wanted == loc or wanted.startswith(loc + ".") or loc.startswith(wanted + ".")):
            return True
    return wanted in message or (path == ("subject",) and "subject" in message)


def _no_personal_data(text: str) -> None:
    for planted in PLANTED:
        assert planted not in text, planted


HYPOTHESIS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(field=st.sampled_from(FIELDS), value=json_texts)
@example(field=(0, ("data", "occurred_at")), value=b'"0001-01-01T00:00:00+14:00"')
@example(field=(0, ("data", "occurred_at")), value=b"1700000000")
@example(field=(0, ("time",)), value=b'"9999-12-31T23:59:59-14:00"')
@example(field=(1, ("data", "parties", 0, "name")), value=b'"Ada\\u0000"')
@example(field=(0, ("id",)), value=b'"a\\u0000b"')
@example(field=(0, ("type",)), value=b'{"a": [1]}')
@example(field=(1, ("data", "parties", 0, "odoo_partner_id")), value=b"18446744073709551616")
def test_any_json_value_in_any_event_field_of_a_webhook(
    hub: Hub, field: tuple[int, tuple[str | int, ...]], value: bytes
) -> None:
    template, path = field
    body, _ = _hostile(template, path, value)
    answer = hub.webhook(body)
    assert answer.status_code < 500, answer.text
    if answer.status_code == 202:
        assert hub.applied(answer.json()["receipt_id"]) == "applied", (path, value)
        return
    error = answer.json()["error"]
    assert answer.status_code in (400, 422) and error["message"], answer.text
    _no_personal_data(answer.text)
    if answer.status_code == 422:
        assert _named(error.get("details") or [], error["message"], path), (path, answer.text)


@HYPOTHESIS
@given(field=st.sampled_from(FIELDS), value=json_texts)
@example(field=(0, ("id",)), value=b'"a\\u0000b"')
@example(field=(2, ("data", "delivered_at")), value=b'"0001-01-01T00:00:00+14:00"')
@example(field=(1, ("data", "stops", 0, "party", "email")), value=b'"x\\u0000"')
def test_any_json_value_in_one_event_of_a_batch(
    hub: Hub, field: tuple[int, tuple[str | int, ...]], value: bytes
) -> None:
    template, path = field
    bad, bad_id = _hostile(template, path, value)
    good = [_hostile(0, ("data", "reason"), b'"fine"') for _ in range(2)]
    body = b"[" + b",".join([good[0][0], bad, good[1][0]]) + b"]"
    answer = hub.batch(body)
    assert answer.status_code < 500, answer.text
    if answer.status_code == 400:  # the hostile value broke the JSON itself: nothing taken
        assert answer.json()["error"]["message"]
        return
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in (results[0], results[2])] == ["accepted", "accepted"]
    for result in results:
        if result["status"] == "accepted":
            assert hub.applied(result["receipt_id"]) == "applied", (path, value)
    refused = results[1]
    if refused["status"] == "rejected":
        problems = refused["errors"]
        assert all(str(p["loc"]).startswith("1") for p in problems), problems
        assert _named(problems, " ".join(p["msg"] for p in problems), path), (path, problems)
        _no_personal_data(answer.text)
    else:
        assert (refused["status"] == "accepted" and refused["id"] == bad_id) or path == ("id",)


@HYPOTHESIS
@given(value=json_texts, where=st.sampled_from(["updates", "extra", "deep"]))
@example(value=b'"Ada\\u0000"', where="extra")
@example(value=b"[" * 100 + b"]" * 100, where="deep")
def test_any_json_value_in_a_mapped_partners_own_json(hub: Hub, value: bytes, where: str) -> None:
    """A mapped partner's JSON is mapped when it is applied; the door refuses what the hub
    could not keep or walk (NUL anywhere, nesting past 64 levels) and takes the rest."""
    sample = orjson.loads((EXAMPLES / "swiftparcel" / "sample.json").read_bytes())
    sample[where] = HOLE
    body = orjson.dumps(sample).replace(HOLE_JSON, value)
    answer = hub.webhook(body, partner="swift")
    assert answer.status_code < 500, answer.text
    if answer.status_code == 422:
        error = answer.json()["error"]
        assert error["details"][0]["loc"].startswith(where), answer.text
    elif answer.status_code == 202:
        assert hub.applied(answer.json()["receipt_id"]) in ("applied", "rejected")


path_texts = st.one_of(
    st.text(min_size=1, max_size=30),
    st.sampled_from(["a\x00b", "\x00", "\x7f", "%00", "..", "x" * 300, "\u2028", "\ud7ff"]),
)


@HYPOTHESIS
@given(text=path_texts)
@example(text="a\x00b")
def test_any_text_as_a_path_parameter(hub: Hub, text: str) -> None:
    encoded = quote(text, safe="")
    for method, route in (
        ("GET", "/v1/shipments/{}"),
        ("GET", "/v1/shipments/{}/timeline"),
        ("GET", "/v1/receipts/{}"),
        ("GET", "/v1/admin/dead-letters/{}"),
        ("POST", "/v1/webhooks/{}"),
    ):
        answer = hub.client.request(method, route.format(encoded), headers=ADMIN, content=b"{}")
        assert answer.status_code < 500, (route, text, answer.text)
        if answer.status_code >= 400:
            assert answer.json()["error"]["message"]
        if any(ord(c) < 0x20 or c == "\x7f" for c in text):
            assert answer.status_code == 400 and answer.json()["error"]["details"] == [
                {"loc": "path", "msg": answer.json()["error"]["details"][0]["msg"]}
            ]


query_values = st.one_of(
    path_texts,
    st.integers().map(str),
    st.sampled_from(["9223372036854775808", "9223372036854775807", "-1", "0", "1e3", ""]),
)


@HYPOTHESIS
@given(name=st.sampled_from(["endpoint", "limit", "after"]), value=query_values)
@example(name="after", value="9223372036854775808")
@example(name="endpoint", value="a\x00b")
def test_any_text_as_an_admin_query_parameter(hub: Hub, name: str, value: str) -> None:
    answer = hub.client.get(f"/v1/admin/dead-letters?{name}={quote(value, safe='')}", headers=ADMIN)
    assert answer.status_code in (200, 400, 422), (name, value, answer.text)
    if answer.status_code != 200:
        locs = [d["loc"] for d in answer.json()["error"]["details"]]
        assert f"query.{name}" in locs, (name, value, answer.text)


@HYPOTHESIS
@given(member=st.sampled_from(["ids", "all", "endpoint", "zzextra"]), value=json_texts)
@example(member="endpoint", value=b'"a\\u0000"')
@example(member="ids", value=b'["a\\u0000"]')
@example(member="all", value=b'"yes"')
def test_any_json_value_in_the_admin_replay_body(hub: Hub, member: str, value: bytes) -> None:
    body = orjson.dumps({"ids": ["cmd-1"], member: HOLE}).replace(HOLE_JSON, value)
    answer = hub.client.post(
        "/v1/admin/dead-letters/replay",
        content=body,
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert answer.status_code in (200, 400, 422), (member, value, answer.text)
    if answer.status_code == 422:
        locs = [d["loc"] for d in answer.json()["error"].get("details") or []]
        assert any(loc.startswith(f"body.{member}") for loc in locs) or not locs, answer.text


def test_a_nul_in_one_partners_batch_fails_no_other_partners_webhooks(hub: Hub) -> None:
    """Batches with NUL in an event id and in a name, sent while another partner's
    webhooks are committed: the bad events are refused (422 each), the batch's good
    events and every webhook are taken, and all of them apply."""
    stop = threading.Event()
    batches: list[httpx.Response] = []

    def send_batches() -> None:
        with httpx.Client(base_url=str(hub.client.base_url), timeout=60) as client:
            while not stop.is_set():
                good, _ = _hostile(0, ("data", "reason"), b'"fine"')
                nul_id, _ = _hostile(0, ("id",), b'"nul\\u0000id"')
                nul_name, _ = _hostile(1, ("data", "parties", 0, "name"), b'"Ada\\u0000"')
                body = b"[" + b",".join([nul_id, good, nul_name]) + b"]"
                headers = {**BATCH, "content-type": "application/json"}
                batches.append(client.post("/v1/events", content=body, headers=headers))

    def one_webhook(_: int) -> httpx.Response:
        body, _ = _hostile(0, ("data", "reason"), b'"on time"')
        return hub.webhook(body)

    sender = threading.Thread(target=send_batches)
    sender.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            webhooks = list(pool.map(one_webhook, range(200)))
    finally:
        stop.set()
        sender.join()
    assert [w.status_code for w in webhooks] == [202] * len(webhooks)
    assert batches
    for answer in batches:
        assert answer.status_code == 202, answer.text
        statuses = [r["status"] for r in answer.json()["results"]]
        assert statuses == ["rejected", "accepted", "rejected"], statuses
    for receipt in [w.json()["receipt_id"] for w in webhooks[-20:]]:
        assert hub.applied(receipt) == "applied"
