"""`/openapi.json` lists every operation's error answers, with the body the hub really
sends: a sample of real error answers, in both shapes (`application/json` and RFC 9457
`application/problem+json`), validates against the schema the description gives for
that operation and status. The description is read over real HTTP from a running hub."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from intermodal.config import load_config
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal_sim.testing import running_hub
from tests.conftest import new_secret

ADMIN = secrets.token_urlsafe(24)
WRITER = secrets.token_urlsafe(24)
READER = secrets.token_urlsafe(24)
MAX_BODY = 4096


class Hub:
    def __init__(self, url: str, secret: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.key = webhook_key(Secret(secret))
        self.spec: dict[str, Any] = self.client.get("/openapi.json").json()

    def webhook(self, body: bytes, msg_id: str, **headers: str) -> httpx.Response:
        ts = int(time.time())
        signed = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.key, msg_id, ts, body),
        }
        return self.client.post("/v1/webhooks/acme", content=body, headers=signed | headers)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp("openapi")
    secret = new_secret()
    for name, value in [("acme", secret), ("admin", ADMIN), ("writer", WRITER), ("reader", READER)]:
        (folder / f"{name}.secret").write_text(value)
    config = {
        "hub": {
            "database": f"sqlite:///{folder / 'hub.db'}",
            "admin_token": "file:admin.secret",
            "max_body_bytes": MAX_BODY,
        },
        "partners": {
            "acme": {"webhook_secrets": ["file:acme.secret"], "owns": ["picked_up"]},
            "tms": {"tokens": [{"token": "file:writer.secret", "scopes": ["events:write"]}]},
            "viewer": {"tokens": [{"token": "file:reader.secret", "scopes": ["shipments:read"]}]},
        },
    }
    (folder / "hub.yaml").write_text(yaml.safe_dump(config))
    with running_hub(load_config(folder / "hub.yaml"), dispatch=False) as url:
        running = Hub(url, secret)
        yield running
        running.client.close()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def errors_of(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"] if int(status) >= 400}


# What the issue asks each operation to tell its callers, at least.
EXPECTED = {
    ("post", "/v1/webhooks/{partner}"): {400, 401, 409, 413, 415, 422, 429, 503},
    ("post", "/v1/events"): {400, 401, 403, 413, 415, 422, 429, 503},
    ("post", "/v1/edi/{partner}"): {400, 401, 403, 409, 413, 415, 422, 429, 503},
    ("post", "/v1/odoo/{partner}/changes"): {400, 401, 403, 413, 422, 429, 503},
    ("get", "/v1/shipments/{key}"): {401, 403, 404, 422},
    ("get", "/v1/shipments/{key}/timeline"): {401, 403, 404, 422},
    ("get", "/v1/receipts/{receipt_id}"): {401, 403, 404, 422},
    ("get", "/v1/admin/dead-letters"): {401, 403, 422},
    ("get", "/v1/admin/dead-letters/{command_id}"): {401, 403, 404, 422},
    ("post", "/v1/admin/dead-letters/replay"): {401, 403, 422},
    ("get", "/readyz"): {503},
}


def test_every_operation_lists_its_error_answers(hub: Hub) -> None:
    found = {(method, path): errors_of(op) for path, method, op in operations(hub.spec)}
    for key, statuses in EXPECTED.items():
        assert statuses <= found[key], f"{key} lacks {sorted(statuses - found[key])}"
    for (method, path), statuses in found.items():
        if path != "/healthz":
            assert statuses, f"{method.upper()} {path} lists no error answer"
        if path.startswith("/v1/"):
            assert 401 in statuses, f"{method.upper()} {path}: every read and write is"
        if re.search(r"\{(?!partner\})", path):
            assert 404 in statuses, f"{method.upper()} {path} names a thing that may not exist"


ERROR = {"$ref": "#/components/schemas/Error"}
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def test_error_answers_carry_the_hubs_own_schemas_and_headers(hub: Hub) -> None:
    text = json.dumps(hub.spec)
    assert "HTTPValidationError" not in text  # FastAPI's shape, which the hub never sends
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in hub.spec["components"]["schemas"], ref
    for path, method, operation in operations(hub.spec):
        for status in errors_of(operation):
            answer = operation["responses"][str(status)]
            assert answer["description"], (method, path, status)
            if path == "/readyz":
                continue
            content = answer["content"]
            assert set(content) == {"application/json", "application/problem+json"}
            plain = content["application/json"]["schema"]
            assert ERROR in [plain, *plain.get("oneOf", [])], (method, path, status)
            assert content["application/problem+json"]["schema"] == PROBLEM
            if status in (429, 503):
                assert "Retry-After" in answer["headers"], (method, path, status)


def event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "acme",
        "type": "intermodal.shipment.milestone",
        "subject": "SHP-OPENAPI",
        "time": "2026-11-23T10:00:00Z",
        "data": {"milestone": "picked_up", "occurred_at": "2026-11-23T10:00:00Z"},
        **changes,
    }


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


JSON = {"content-type": "application/json"}
Sample = Callable[[Hub, dict[str, str]], httpx.Response]

# Each provokes one error answer (its status, the operation answering it); `accept` is
# added to every request's headers.
SAMPLES: dict[str, tuple[int, str, str, Sample]] = {
    "batch without a token": (
        401, "post", "/v1/events",
        lambda h, a: h.client.post("/v1/events", content=b"[]", headers=JSON | a),
    ),
    "batch with a wrong token": (
        401, "post", "/v1/events",
        lambda h, a: h.client.post(
            "/v1/events", content=b"[]", headers=JSON | bearer("x" * 32) | a
        ),
    ),
    "batch with a token lacking the scope": (
        403, "post", "/v1/events",
        lambda h, a: h.client.post("/v1/events", content=b"[]", headers=JSON | bearer(READER) | a),
    ),
    "batch that is not JSON": (
        400, "post", "/v1/events",
        lambda h, a: h.client.post(
            "/v1/events", content=b"[{", headers=JSON | bearer(WRITER) | a
        ),
    ),
    "batch in text/plain": (
        415, "post", "/v1/events",
        lambda h, a: h.client.post(
            "/v1/events", content=b"[]", headers={"content-type": "text/plain"} | bearer(WRITER) | a
        ),
    ),
    "batch over the size limit": (
        413, "post", "/v1/events",
        lambda h, a: h.client.post(
            "/v1/events", content=b" " * (MAX_BODY + 1), headers=JSON | bearer(WRITER) | a
        ),
    ),
    "batch of invalid events": (
        422, "post", "/v1/events",
        lambda h, a: h.client.post(
            "/v1/events",
            content=orjson.dumps([event("bad-1", type={"an": "object"})]),
            headers=JSON | bearer(WRITER) | a,
        ),
    ),
    "webhook with a bad signature": (
        401, "post", "/v1/webhooks/{partner}",
        lambda h, a: h.webhook(b"{}", "w-sig", **{"webhook-signature": "v1,AAAA"} | a),
    ),
    "webhook with an invalid event": (
        422, "post", "/v1/webhooks/{partner}",
        lambda h, a: h.webhook(orjson.dumps(event("w-1", time="yesterday")), "w-invalid", **a),
    ),
    "webhook id reused for another body": (
        409, "post", "/v1/webhooks/{partner}",
        lambda h, a: (
            h.webhook(orjson.dumps(event("w-2")), "w-reused"),
            h.webhook(orjson.dumps(event("w-3")), "w-reused", **a),
        )[1],
    ),
    "shipment that does not exist": (
        404, "get", "/v1/shipments/{key}",
        lambda h, a: h.client.get("/v1/shipments/NO-SUCH-SHIPMENT", headers=bearer(ADMIN) | a),
    ),
    "receipt that does not exist": (
        404, "get", "/v1/receipts/{receipt_id}",
        lambda h, a: h.client.get("/v1/receipts/rcpt-none", headers=bearer(ADMIN) | a),
    ),
    "admin without a token": (
        401, "get", "/v1/admin/dead-letters/{command_id}",
        lambda h, a: h.client.get("/v1/admin/dead-letters/cmd-x", headers=a),
    ),
    "dead letter that does not exist": (
        404, "get", "/v1/admin/dead-letters/{command_id}",
        lambda h, a: h.client.get("/v1/admin/dead-letters/cmd-x", headers=bearer(ADMIN) | a),
    ),
    "admin list with a bad limit": (
        422, "get", "/v1/admin/dead-letters",
        lambda h, a: h.client.get("/v1/admin/dead-letters?limit=0", headers=bearer(ADMIN) | a),
    ),
    "replay with neither ids nor all": (
        422, "post", "/v1/admin/dead-letters/replay",
        lambda h, a: h.client.post(
            "/v1/admin/dead-letters/replay", json={}, headers=bearer(ADMIN) | a
        ),
    ),
}  # fmt: skip


@pytest.mark.parametrize("accept", ["application/json", "application/problem+json"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_real_error_answer_validates_against_its_documented_schema(
    hub: Hub, name: str, accept: str
) -> None:
    status, method, path, provoke = SAMPLES[name]
    answer = provoke(hub, {"accept": accept})
    assert answer.status_code == status, (name, answer.status_code, answer.text)
    documented = hub.spec["paths"][path][method]["responses"]
    assert str(answer.status_code) in documented, (
        f"{name}: {answer.status_code} is not in the description of {method.upper()} {path}"
    )
    media = answer.headers["content-type"].split(";")[0]
    content = documented[str(answer.status_code)]["content"]
    assert media in content, (name, media)
    body = answer.json()
    if "results" not in body:  # a batch's per-event answer is JSON whatever is asked
        assert media == accept, name
    schema = content[media]["schema"]
    validator = Draft202012Validator({**schema, "components": hub.spec["components"]})
    problems = [error.message for error in validator.iter_errors(body)]
    assert problems == [], (name, body)


def test_the_schemas_refuse_what_the_hub_does_not_send(hub: Hub) -> None:
    """The documented schemas are tight enough to fail: FastAPI's own 422 body, a bare
    string and a problem without its status do not validate."""
    components = hub.spec["components"]
    error = Draft202012Validator({**ERROR, "components": components})
    problem = Draft202012Validator({**PROBLEM, "components": components})
    assert not error.is_valid({"detail": [{"loc": ["body"], "msg": "x", "type": "missing"}]})
    assert not error.is_valid({"error": "not found"})
    assert not problem.is_valid({"type": "urn:x", "title": "Not Found", "detail": "x", "code": "x"})
    assert error.is_valid({"error": {"code": "not_found", "message": "no shipment 'X'"}})


def test_asking_twice_gives_the_same_description(hub: Hub) -> None:
    """The hub caches its description after the first build: asking twice gives the same
    document, not one with the error answers added twice."""
    again = hub.client.get("/openapi.json").json()
    assert again == hub.spec
