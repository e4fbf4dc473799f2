"""CloudEvents over real HTTP: every content mode of the HTTP binding 1.0.2 on
`POST /v1/webhooks/{partner}` and `POST /v1/events`, through a running hub on loopback and
a real SQLite file, down to what the inbox stores and the applier makes of it."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from intermodal.canonical.events import parse_event
from intermodal.config import load_config
from intermodal.engine.normalize import canonical
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import open_store
from intermodal.store.tables import events, inbox
from intermodal_sim.testing import running_hub, wait_until
from tests.canonical.test_cloudevents_spec import as_binary, envelopes, with_string_extensions
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret

TOKEN = "northwind-tms-token-0123456789-abc"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def scan(event_id: str, subject: str = "SHP-CE-1", **extra: Any) -> dict[str, Any]:
    """A carrier's pickup scan as a canonical CloudEvent."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "https://tracking.northwind-freight.example/v2/scans",
        "type": "intermodal.shipment.milestone",
        "subject": subject,
        "time": "2026-11-23T10:04:12Z",
        "data": {"milestone": "picked_up", "occurred_at": "2026-11-23T10:01:00+01:00"},
        **extra,
    }


class Hub:
    def __init__(self, url: str, secret: str, database: str) -> None:
        self.key = webhook_key(Secret(secret))
        self.client = httpx.Client(base_url=url, timeout=30)
        self.store = open_store(database, migrate=False)

    def webhook(
        self, body: bytes, msg_id: str, content_type: str, **headers: str
    ) -> httpx.Response:
        ts = int(time.time())
        signed = {
            "content-type": content_type,
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.key, msg_id, ts, body),
            **headers,
        }
        return self.client.post("/v1/webhooks/northwind", content=body, headers=signed)

    def batch(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        sent = {"authorization": f"Bearer {TOKEN}", "content-type": content_type, **headers}
        return self.client.post("/v1/events", content=body, headers=sent)

    def stored(self, receipt_id: str) -> bytes:
        with self.store.read() as conn:
            row = conn.execute(select(inbox.c.body).where(inbox.c.receipt_id == receipt_id)).one()
        return bytes(row.body)

    def inbox_rows(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())

    def applied(self, receipt_id: str) -> dict[str, Any]:
        """The receipt once the applier has been through it."""
        url = f"/v1/receipts/{receipt_id}"
        wait_until(lambda: self.client.get(url, headers=ADMIN).json()["status"] != "pending")
        receipt: dict[str, Any] = self.client.get(url, headers=ADMIN).json()
        return receipt

    def event_json(self, event_id: str) -> dict[str, Any]:
        """The event as the timeline keeps it (events.data)."""
        with self.store.read() as conn:
            row = conn.execute(select(events.c.data).where(events.c.event_id == event_id)).one()
        stored: dict[str, Any] = orjson.loads(row.data)
        return stored


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder: Path = tmp_path_factory.mktemp("cloudevents")
    secret = new_secret()
    (folder / "northwind.secret").write_text(secret)
    (folder / "tms.token").write_text(TOKEN)
    database = f"sqlite:///{folder / 'hub.db'}"
    config = {
        "hub": {"database": database, "admin_token": ADMIN_TOKEN_REF},
        "partners": {
            "northwind": {
                "webhook_secrets": ["file:northwind.secret"],
                "owns": ["picked_up", "in_transit", "delivered"],
            },
            "tms": {"tokens": [{"token": "file:tms.token"}], "owns": ["booked"]},
        },
    }
    (folder / "hub.yaml").write_text(yaml.safe_dump(config))
    with running_hub(load_config(folder / "hub.yaml")) as url:
        h = Hub(url, secret, database)
        yield h
        h.client.close()
        h.store.dispose()


# -- webhooks --------------------------------------------------------------------------------
def test_structured_event_keeps_its_extensions_through_to_the_timeline(hub: Hub) -> None:
    """HTTP binding 3.2 (structured mode, `application/cloudevents+json`); spec.md,
    Extension Context Attributes: the extensions are kept in the stored body and in the
    event the timeline shows."""
    event = scan("nw-ce-1", depot="LIS-7", attempt=2, signed=True, dataschema=None)
    body = orjson.dumps(event)
    r = hub.webhook(body, "nw-ce-1", f"{STRUCTURED}; charset=utf-8")
    assert r.status_code == 202, r.text
    receipt = r.json()["receipt_id"]
    assert hub.stored(receipt) == body  # the usual message is stored as it came
    assert hub.applied(receipt)["status"] == "applied"
    shown = hub.event_json("nw-ce-1")
    assert (shown["depot"], shown["attempt"], shown["signed"]) == ("LIS-7", 2, True)


def test_binary_mode_event_is_stored_as_structured_json_and_applied(hub: Hub) -> None:
    """HTTP binding 3.1: attributes in `ce-*` headers (percent-encoded, 3.1.3.2), the
    Content-Type as datacontenttype, the body as data. The inbox keeps the structured JSON
    form, which the normalizer reads later as the same event."""
    event = scan("nw-ce-2", "SHP-CE-2", datacontenttype="application/vnd.northwind.scan+json")
    headers, body = as_binary(event)
    headers["ce-depot"] = "Lisboa%20%E2%80%94%20Doca%207"  # 'Lisboa — Doca 7'
    r = hub.webhook(body, "nw-ce-2", headers.pop("content-type"), **headers)
    assert r.status_code == 202, r.text
    receipt = r.json()["receipt_id"]
    stored = orjson.loads(hub.stored(receipt))
    assert stored["depot"] == "Lisboa \u2014 Doca 7" and stored["data"] == event["data"]
    ((normalized, _),) = canonical("northwind", "webhook", "application/json", hub.stored(receipt))
    assert normalized == parse_event({**event, "depot": "Lisboa \u2014 Doca 7"})
    assert hub.applied(receipt)["events"] == [
        {"id": "nw-ce-2", "subject": "SHP-CE-2", "outcome": "applied"}
    ]


def test_batch_format_on_the_webhook(hub: Hub) -> None:
    """json-format.md 4 and HTTP binding 3.3: `application/cloudevents-batch+json` is a JSON
    array of events; 'The batch MAY be empty' (3.3.2): answered 200 with zero events, and
    nothing is stored."""
    body = orjson.dumps([scan("nw-ce-3a", "SHP-CE-3"), scan("nw-ce-3b", "SHP-CE-3")])
    r = hub.webhook(body, "nw-ce-3", BATCH)
    assert r.status_code == 202 and r.json()["events"] == 2, r.text
    before = hub.inbox_rows()
    empty = hub.webhook(b"[]", "nw-ce-empty", BATCH)
    assert empty.status_code == 200, empty.text
    assert empty.json()["events"] == 0 and empty.json()["receipt_id"] is None
    assert hub.inbox_rows() == before


def test_data_base64_is_stored_with_its_data_decoded(hub: Hub) -> None:
    """json-format.md 3.1.2: `data_base64` is decoded; the hub keeps the event in the `data`
    form the timeline and the workflows read."""
    event = {k: v for k, v in scan("nw-ce-4", "SHP-CE-4").items() if k != "data"}
    event["data_base64"] = base64.b64encode(orjson.dumps(scan("x")["data"])).decode()
    r = hub.webhook(orjson.dumps(event), "nw-ce-4", STRUCTURED)
    assert r.status_code == 202, r.text
    stored = orjson.loads(hub.stored(r.json()["receipt_id"]))
    assert "data_base64" not in stored and stored["data"] == scan("x")["data"]
    hub.applied(r.json()["receipt_id"])
    assert hub.event_json("nw-ce-4")["data"]["milestone"] == "picked_up"


DATA = orjson.dumps(scan("x")["data"])
CE = {
    "ce-specversion": "1.0",
    "ce-id": "e1",
    "ce-source": "/northwind",
    "ce-type": "intermodal.shipment.milestone",
    "ce-subject": "SHP-1",
    "ce-time": "2026-11-23T10:04:12Z",
}


@pytest.mark.parametrize(
    ("content_type", "body", "headers", "status", "loc"),
    [
        (STRUCTURED, orjson.dumps([scan("e1")]), {}, 422, ""),  # structured is one object
        ("application/json", b"[]", {}, 422, ""),  # the hub's own form: one event at least
        (BATCH, orjson.dumps(scan("e1")), {}, 422, ""),  # a batch is an array
        (STRUCTURED, orjson.dumps(scan("e1", time=1795428252)), {}, 422, "time"),
        (STRUCTURED, orjson.dumps(scan("e1", time="2026-11-23T10:04Z")), {}, 422, "time"),
        (STRUCTURED, orjson.dumps(scan("e1", Depot="LIS")), {}, 422, "Depot"),
        (STRUCTURED, orjson.dumps(scan("e1", specversion="0.3")), {}, 422, "specversion"),
        (STRUCTURED, orjson.dumps(scan("e1", source="north wind")), {}, 422, "source"),
        (STRUCTURED, orjson.dumps(scan("e1", dataschema="/scan.json")), {}, 422, "dataschema"),
        (STRUCTURED, orjson.dumps(scan("e1", type={"a": 1})), {}, 422, "type"),  # unhashable
        (STRUCTURED, orjson.dumps(scan("e1", type=["x"])), {}, 422, "type"),
        (BATCH, orjson.dumps([scan("e1", type=None)]), {}, 422, "0.type"),
        ("application/cloudevents+xml", b"<event/>", {}, 415, None),
        ("application/json", DATA, {**CE, "ce-datacontenttype": "application/json"}, 422,
         "ce-datacontenttype"),
        ("application/json", DATA, {**CE, "ce-id": "e%C0%A0"}, 422, "ce-id"),
        ("application/json", DATA, {k: v for k, v in CE.items() if k != "ce-id"}, 422, "id"),
        ("application/json", DATA, {**CE, "ce-time": "1795428252"}, 422, "time"),
        ("application/xml", b"<scan/>", {"ce-specversion": "1.0"}, 415, None),
    ],
)  # fmt: skip
def test_refusals_are_4xx_naming_the_attribute_and_store_nothing(
    hub: Hub, content_type: str, body: bytes, headers: dict[str, str], status: int, loc: str | None
) -> None:
    """Every refusal is a 4xx whose problems name the attribute (or the header, for a
    header that does not decode), and leaves no row behind."""
    before = hub.inbox_rows()
    r = hub.webhook(body, f"bad-{time.monotonic_ns()}", content_type, **headers)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"]
    if loc is not None:
        assert error["details"][0]["loc"] == loc, error
    assert hub.inbox_rows() == before


# -- POST /v1/events -------------------------------------------------------------------------
def test_events_endpoint_reads_every_content_mode(hub: Hub) -> None:
    """/v1/events in the batch format (an empty batch: 200, zero results), one structured
    event, and one binary-mode event; each valid event stored in structured JSON."""
    booked = {"milestone": "booked", "occurred_at": "2026-11-22T16:00:00Z"}
    batch = [scan("tms-ce-1", "SHP-CE-5", data=booked), scan("tms-ce-2", "SHP-CE-6", data=booked)]
    r = hub.batch(orjson.dumps(batch), BATCH)
    assert r.status_code == 202 and r.json()["accepted"] == 2, r.text

    empty = hub.batch(b"[]", BATCH)
    assert empty.status_code == 200, empty.text
    assert empty.json()["results"] == [] and empty.json()["accepted"] == 0
    assert hub.batch(b"[]", "application/json").status_code == 422  # not the batch format

    one = hub.batch(orjson.dumps(scan("tms-ce-3", "SHP-CE-7", data=booked)), STRUCTURED)
    assert one.status_code == 202 and one.json()["results"][0]["id"] == "tms-ce-3", one.text

    headers, body = as_binary(scan("tms-ce-4", "SHP-CE-8", data=booked, carrierref="NW 88"))
    binary = hub.batch(body, headers.pop("content-type", "application/json"), **headers)
    assert binary.status_code == 202, binary.text
    stored = orjson.loads(hub.stored(binary.json()["results"][0]["receipt_id"]))
    assert stored["carrierref"] == "NW 88" and stored["data"] == booked


def test_events_endpoint_rejects_an_invalid_event_by_attribute(hub: Hub) -> None:
    """A batch gets a result per event; a broken one names its attribute (index first)."""
    r = hub.batch(orjson.dumps([scan("tms-ce-5", time=1795428252)]), BATCH)
    assert r.status_code == 422, r.text
    assert r.json()["results"][0]["errors"][0]["loc"] == "0.time"


@pytest.mark.parametrize("kind", [{"a": 1}, ["intermodal.shipment.milestone"], 7, True, None])
def test_a_type_of_any_json_kind_is_a_422_and_the_connection_lives_on(hub: Hub, kind: Any) -> None:
    """`type` is a String (spec.md 3.1.1): an object or array (unhashable in Python) is a
    422 naming `type` like any other wrong value, on both routes, and the keep-alive
    connection that carried it serves the next request."""
    body = orjson.dumps([scan("tms-ce-kind", type=kind)])
    refused = hub.batch(body, BATCH)
    assert refused.status_code == 422, refused.text
    assert refused.json()["results"][0]["errors"][0]["loc"] == "0.type"
    webhook = hub.webhook(orjson.dumps(scan("nw-kind", type=kind)), "kind-1", STRUCTURED)
    assert webhook.status_code == 422 and webhook.json()["error"]["details"][0]["loc"] == "type"
    assert hub.client.get("/healthz").status_code == 200


# -- the same event either way, as a property -------------------------------------------------
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=envelopes(), n=st.integers(0, 10**9))
def test_any_valid_envelope_is_accepted_alike_in_both_modes(
    hub: Hub, event: dict[str, Any], n: int
) -> None:
    """HTTP binding 3.1 and 3.2: a valid event sent structured or binary is accepted (202)
    and stored so that the normalizer reads the same event (with an extension's canonical
    string in binary mode)."""
    event = {**event, "id": f"prop-{n}-{event['id']}"[:250]}
    structured = hub.webhook(orjson.dumps(event), f"s-{n}-{time.monotonic_ns()}", STRUCTURED)
    headers, body = as_binary(event)
    content_type = headers.pop("content-type", "application/json")
    binary = hub.webhook(body, f"b-{n}-{time.monotonic_ns()}", content_type, **headers)
    assert structured.status_code == 202, structured.text
    assert binary.status_code == 202, binary.text
    read = [
        canonical("northwind", "webhook", "application/json", hub.stored(r.json()["receipt_id"]))
        for r in (structured, binary)
    ]
    sent_as = {**with_string_extensions(event), "datacontenttype": content_type}
    assert read[1][0][0] == parse_event(sent_as)  # binding 3.1.1: Content-Type is datacontenttype
    assert read[0][0][0] == parse_event(event)
