"""A hub wired to a receiver and the Odoo test server, and signed webhooks to drive it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key


def milestone(event_id: str, subject: str, name: str, hour: int, **data: Any) -> bytes:
    at = f"2026-11-23T{hour:02d}:00:00Z"
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "carrier",
            "type": "intermodal.shipment.milestone",
            "subject": subject,
            "time": at,
            "data": {"milestone": name, "occurred_at": at, **data},
        }
    )


def send_webhook(
    client: httpx.Client,
    partner: str,
    secret: str,
    body: bytes,
    message_id: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a Standard Webhooks-signed body, as a partner would."""
    ts = int(time.time())
    return client.post(
        f"/v1/webhooks/{partner}",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(webhook_key(Secret(secret)), message_id, ts, body),
            **(headers or {}),
        },
    )
