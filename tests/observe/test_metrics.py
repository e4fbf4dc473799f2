"""/metrics after a scripted scenario: every counter and gauge matches what happened."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from intermodal.config import Settings
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal_sim.testing import Receiver, running_hub, serve_in_thread, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics", headers=ADMIN).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def milestone(event_id: str, subject: str, name: str, hour: int) -> bytes:
    at = f"2026-11-23T{hour:02d}:00:00Z"
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "acme",
            "type": "intermodal.shipment.milestone",
            "subject": subject,
            "time": at,
            "data": {"milestone": name, "occurred_at": at},
        }
    )


def test_metrics_match_a_scripted_scenario(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    secret = new_secret()
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as receiver_url:
        settings = make_settings(
            {
                "hub": {"database": sqlite_url, "admin_token": ADMIN_TOKEN_REF},
                "partners": {
                    "acme": {"webhook_secrets": ["env:ACME_S"], "owns": ["picked_up", "delivered"]},
                    "tms": {"tokens": [{"token": "env:TMS_T"}]},
                },
                "endpoints": {"portal": {"url": f"{receiver_url}/hooks"}},
            },
            env={"ACME_S": secret, "TMS_T": "tms-token-value-1-for-the-metrics-tests"},
        )
        key = webhook_key(Secret(secret))
        with running_hub(settings) as url, httpx.Client(base_url=url) as client:

            def send(body: bytes, msg_id: str, signature: str | None = None) -> int:
                ts = int(time.time())
                headers = {
                    "content-type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(ts),
                    "webhook-signature": signature or sign(key, msg_id, ts, body),
                }
                return client.post("/v1/webhooks/acme", content=body, headers=headers).status_code

            assert send(milestone("e1", "S1", "picked_up", 8), "m1") == 202
            assert send(milestone("e2", "S1", "delivered", 12), "m2") == 202
            assert send(milestone("e3", "S2", "picked_up", 9), "m3") == 202
            assert send(milestone("e2", "S1", "delivered", 12), "m2") == 200  # duplicate
            assert (
                send(milestone("e4", "S1", "in_transit", 10), "m4") == 202
            )  # late: S1 is delivered
            assert send(milestone("e5", "S3", "picked_up", 9), "m5", "v1,AAAA") == 401
            batch = [orjson.loads(milestone(f"b{i}", "S3", "booked", 6)) for i in range(2)]
            batch.append({"id": "bad"})
            r = client.post(
                "/v1/events",
                json=batch,
                headers={"authorization": "Bearer tms-token-value-1-for-the-metrics-tests"},
            )
            assert r.status_code == 202

            delivered = (
                "intermodal_outbox_commands_total",
                (("endpoint", "portal"), ("result", "delivered")),
            )
            # S1 picked_up and delivered, S2 picked_up, S3 booked: four state changes.
            wait_until(lambda: scrape(client).get(delivered) == 4, timeout=10)
            m = scrape(client)
            assert len(receiver.applied) == 4

    def v(name: str, **labels: str) -> float:
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    assert (
        v("intermodal_ingress_messages_total", partner="acme", channel="webhook", result="accepted")
        == 4
    )
    assert (
        v(
            "intermodal_ingress_messages_total",
            partner="acme",
            channel="webhook",
            result="duplicate",
        )
        == 1
    )
    assert (
        v("intermodal_ingress_messages_total", partner="acme", channel="webhook", result="rejected")
        == 1
    )
    assert (
        v("intermodal_ingress_messages_total", partner="tms", channel="batch", result="accepted")
        == 2
    )
    assert (
        v("intermodal_ingress_messages_total", partner="tms", channel="batch", result="rejected")
        == 1
    )
    assert v("intermodal_ingress_ack_seconds_count", partner="acme", channel="webhook") == 5
    assert v("intermodal_events_applied_total", partner="acme", outcome="applied") == 3
    assert v("intermodal_events_applied_total", partner="acme", outcome="late") == 1
    assert v("intermodal_events_applied_total", partner="tms", outcome="applied") == 1
    assert (
        v("intermodal_events_applied_total", partner="tms", outcome="duplicate") == 1
    )  # same meaning
    assert v("intermodal_outbox_commands_total", endpoint="portal", result="delivered") == 4
    assert v("intermodal_breaker_state", endpoint="portal") == 0
    assert v("intermodal_inbox_pending") == 0
    assert v("intermodal_shipments", state="delivered") == 1
    assert v("intermodal_shipments", state="picked_up") == 1
    assert v("intermodal_shipments", state="booked") == 1
    assert v("intermodal_partner_last_message_timestamp_seconds", partner="acme") > 0
