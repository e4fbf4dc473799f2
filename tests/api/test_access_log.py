"""One log line per request, with what an operator needs to follow it, and none when the
level is off."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import orjson
import pytest

from intermodal.ingress.signatures import sign
from intermodal.observe.logs import configure_logging
from intermodal.security.secrets import Secret, webhook_key
from tests.api.conftest import HubClient
from tests.conftest import new_secret

SECRET = new_secret()
TOKEN = "batch-token-0123456789-0123456789"
CONFIG = {
    "partners": {
        "acme": {"webhook_secrets": ["env:ACCESS_ACME_SECRET"]},
        "tms": {"tokens": [{"token": "env:ACCESS_TMS_TOKEN"}]},
    }
}
ENV = {"ACCESS_ACME_SECRET": SECRET, "ACCESS_TMS_TOKEN": TOKEN}


def _event(event_id: str, milestone: str = "picked_up") -> bytes:
    at = "2026-11-23T10:00:00Z"
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "acme",
            "type": "intermodal.shipment.milestone",
            "subject": "SHP-LOG",
            "time": at,
            "data": {"milestone": milestone, "occurred_at": at},
        }
    )


def _signed(body: bytes, message_id: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(webhook_key(Secret(SECRET)), message_id, now, body),
    }


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The project's own log setup (JSON, redacted) at INFO, restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _access(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "intermodal.access"]


def test_a_202_and_a_409_each_log_a_line(hub_client: HubClient, json_lines: io.StringIO) -> None:
    with hub_client(CONFIG, ENV) as client:
        first = _event("evt-log-1")
        accepted = client.post("/v1/webhooks/acme", content=first, headers=_signed(first, "m-1"))
        assert accepted.status_code == 202
        other = _event("evt-log-1", "delivered")
        conflict = client.post(
            "/v1/webhooks/acme",
            content=other,
            headers={**_signed(other, "m-1"), "x-correlation-id": "corr-sent-by-acme"},
        )
        assert conflict.status_code == 409
    lines = _access(json_lines)
    assert [line["status"] for line in lines] == [202, 409]
    ok, refused = lines
    assert ok["level"] == "info" and ok["method"] == "POST"
    assert ok["path"] == "/v1/webhooks/acme" and ok["partner"] == "acme"
    assert ok["correlation_id"] == accepted.headers["x-correlation-id"]
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] >= 0
    assert refused["partner"] == "acme" and refused["correlation_id"] == "corr-sent-by-acme"
    assert ok["event"] == "POST /v1/webhooks/acme 202"


def test_the_partner_of_a_batch_comes_from_its_token(
    hub_client: HubClient, json_lines: io.StringIO
) -> None:
    with hub_client(CONFIG, ENV) as client:
        answer = client.post(
            "/v1/events",
            content=b"[" + _event("evt-log-2") + b"]",
            headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
        )
        assert answer.status_code == 202
        client.get("/v1/shipments/none-such")
    batch, read = _access(json_lines)
    assert batch["partner"] == "tms" and batch["correlation_id"] == answer.json()["correlation_id"]
    assert read["status"] == 401 and read["partner"] is None and read["correlation_id"]
    assert TOKEN not in json_lines.getvalue()


def test_no_line_when_info_is_off(hub_client: HubClient, json_lines: io.StringIO) -> None:
    logging.getLogger("intermodal.access").setLevel(logging.WARNING)
    try:
        with hub_client(CONFIG, ENV) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        logging.getLogger("intermodal.access").setLevel(logging.NOTSET)
    assert _access(json_lines) == []
