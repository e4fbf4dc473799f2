"""Customer portal simulator: the receiving end of the hub's outbound notifications.

The hub's webhook endpoints (outbox/sinks.py `WebhookSink`) POST CloudEvents, one
(`application/cloudevents+json`) or a batch (`application/cloudevents-batch+json`), with
Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature`. The
portal checks them the way a careful customer's endpoint would, and counts every refusal
so a test can assert on it:

- the signature is recomputed on the raw bytes for every secret the portal holds (an
  endpoint has several during a rotation) and compared with every `v1,<sig>` entry of the
  header (space-separated; any one may match). The check is written here, not borrowed
  from the hub's `ingress.signatures`, so the hub's signing is tested by an independent
  reading of the specification;
- the timestamp must be within the tolerance (300 s by default) in both directions;
- a `webhook-id` seen before is answered 200 and not recorded again (with another body,
  409: the sender reused an id);
- the body must be a CloudEvent or an array of them (`specversion`, `id`, `type`,
  `source`); anything else is a 400.

Failures can be scripted to exercise the hub's retries: the next N answers a 5xx or a
429 with `Retry-After`, slow answers. `GET /_sim/received` lists what was received
(filters: `type`, `subject`, `webhook_id`, `limit`), `GET /_sim/stats` the counts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal_sim.partner import BadRequest, decode_json, error_response, read_body, validate

MEDIA_TYPES = frozenset(
    {"application/cloudevents+json", "application/cloudevents-batch+json", "application/json"}
)
MAX_ID = 256


class PortalControl(BaseModel):
    """Body of `POST /_sim/control`; unset fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    fail_next: int | None = Field(default=None, ge=0, le=100_000)
    """Answer the next N requests with `fail_status` (before looking at them)."""
    fail_status: int | None = Field(default=None, ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=0, le=3600)
    """Seconds sent in `Retry-After` with each scripted failure (None: no header)."""
    slow_ms: float | None = Field(default=None, ge=0, le=120_000)
    slow_next: int | None = Field(default=None, ge=0, le=100_000)
    """Delay the next N answers by `slow_ms`."""
    tolerance_seconds: int | None = Field(default=None, ge=1, le=86_400)
    reset: bool = False
    """Forget everything received and every count."""


class SignatureRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_signature(
    keys: tuple[bytes, ...],
    message_id: str | None,
    timestamp: str | None,
    header: str | None,
    body: bytes,
    tolerance: int,
    now: float,
) -> None:
    """Raise SignatureRefused (reason: missing, malformed, stale, future, mismatch)."""
    if not message_id or not timestamp or not header:
        raise SignatureRefused("missing", "webhook-id, webhook-timestamp and webhook-signature")
    if len(message_id) > MAX_ID or not message_id.isascii() or not message_id.isprintable():
        raise SignatureRefused("malformed", "webhook-id: at most 256 printable ASCII characters")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureRefused("malformed", "webhook-timestamp: whole seconds since the epoch")
    sent = int(timestamp)
    if sent < now - tolerance:
        raise SignatureRefused("stale", f"webhook-timestamp is more than {tolerance}s old")
    if sent > now + tolerance:
        raise SignatureRefused("future", f"webhook-timestamp is {tolerance}s+ in the future")
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    for entry in header.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if any(hmac.compare_digest(given, digest) for digest in expected):
            return
    raise SignatureRefused("mismatch", "no v1 signature matches any of the portal's secrets")


@dataclass
class Delivery:
    """One accepted request: its webhook-id and the CloudEvents it carried."""

    webhook_id: str
    received_at: str
    content_type: str
    correlation_id: str | None
    digest: str
    events: list[dict[str, Any]]


@dataclass
class Portal:
    """The portal's secrets, script and everything it received; thread-safe."""

    keys: tuple[bytes, ...]
    tolerance_seconds: int = 300
    fail_next: int = 0
    fail_status: int = 503
    retry_after: int | None = None
    slow_ms: float = 0.0
    slow_next: int = 0
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, control: PortalControl) -> None:
        with self.lock:
            if control.reset:
                self.deliveries.clear()
                self.counts.clear()
                self.rejected.clear()
            for name in ("fail_next", "fail_status", "slow_ms", "slow_next", "tolerance_seconds"):
                value = getattr(control, name)
                if value is not None:
                    setattr(self, name, value)
            if "retry_after" in control.model_fields_set:
                self.retry_after = control.retry_after

    def events(
        self,
        type_: str | None = None,
        subject: str | None = None,
        webhook_id: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Received events in arrival order, each with the webhook-id it came in."""
        out: list[dict[str, Any]] = []
        with self.lock:
            for delivery in self.deliveries.values():
                if webhook_id is not None and delivery.webhook_id != webhook_id:
                    continue
                for event in delivery.events:
                    if type_ is not None and event.get("type") != type_:
                        continue
                    if subject is not None and event.get("subject") != subject:
                        continue
                    out.append(
                        {
                            "webhook_id": delivery.webhook_id,
                            "received_at": delivery.received_at,
                            "event": event,
                        }
                    )
        return out[-limit:] if limit else out

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                **{
                    k: self.counts.get(k, 0)
                    for k in (
                        "requests",
                        "accepted",
                        "duplicates",
                        "conflicts",
                        "failures_sent",
                        "slowed",
                    )
                },
                "events": sum(len(d.events) for d in self.deliveries.values()),
                "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values()),
            }

    def app(self) -> Starlette:
        async def hooks(request: Request) -> Response:
            with self.lock:
                self.counts["requests"] += 1
                slow = self.slow_ms if self.slow_next > 0 else 0.0
                if slow:
                    self.slow_next -= 1
                    self.counts["slowed"] += 1
                failing = self.fail_next > 0
                if failing:
                    self.fail_next -= 1
                    self.counts["failures_sent"] += 1
                status, retry_after = self.fail_status, self.retry_after
            if slow:
                await asyncio.sleep(slow / 1000)
            if failing:
                headers = {"retry-after": str(retry_after)} if retry_after is not None else None
                return JSONResponse(
                    {"error": {"code": "injected", "message": f"scripted {status}"}},
                    status,
                    headers=headers,
                )
            try:
                return self.receive(request, await read_body(request))
            except BadRequest as exc:
                with self.lock:
                    self.rejected[exc.code] += 1
                return error_response(exc)

        async def received(request: Request) -> Response:
            query = request.query_params
            limit = query.get("limit", "1000")
            if not limit.isdigit():
                return error_response(BadRequest(400, "bad_query", "limit: a whole number"))
            found = self.events(
                query.get("type"), query.get("subject"), query.get("webhook_id"), int(limit)
            )
            return JSONResponse({"events": found, "count": len(found)})

        async def stats(_request: Request) -> Response:
            return JSONResponse(self.stats())

        async def control(request: Request) -> Response:
            try:
                self.apply(validate(PortalControl, decode_json(await read_body(request))))
            except BadRequest as exc:
                return error_response(exc)
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/hooks", hooks, methods=["POST"]),
                Route("/hooks/{name}", hooks, methods=["POST"]),
                Route("/_sim/received", received, methods=["GET"]),
                Route("/_sim/stats", stats, methods=["GET"]),
                Route("/_sim/control", control, methods=["POST"]),
            ]
        )

    def receive(self, request: Request, body: bytes) -> Response:
        headers = request.headers
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in MEDIA_TYPES:
            raise BadRequest(
                415,
                "unsupported_media_type",
                f"content-type must be one of {', '.join(sorted(MEDIA_TYPES))}",
            )
        message_id = headers.get("webhook-id")
        try:
            check_signature(
                self.keys,
                message_id,
                headers.get("webhook-timestamp"),
                headers.get("webhook-signature"),
                body,
                self.tolerance_seconds,
                time.time(),
            )
        except SignatureRefused as exc:
            with self.lock:
                self.rejected[f"signature_{exc.reason}"] += 1
            return JSONResponse(
                {"error": {"code": "bad_signature", "message": str(exc), "reason": exc.reason}},
                401,
            )
        assert message_id is not None
        digest = hashlib.sha256(body).hexdigest()
        with self.lock:
            seen = self.deliveries.get(message_id)
            if seen is not None:
                same = seen.digest == digest
                self.counts["duplicates" if same else "conflicts"] += 1
                if same:
                    return JSONResponse({"ok": True, "duplicate": True})
                return JSONResponse(
                    {
                        "error": {
                            "code": "conflict",
                            "message": "this webhook-id came before with another body",
                        }
                    },
                    409,
                )
        events = _cloudevents(decode_json(body))
        delivery = Delivery(
            message_id,
            datetime.now(UTC).isoformat(),
            media,
            headers.get("x-correlation-id"),
            digest,
            events,
        )
        with self.lock:
            if message_id in self.deliveries:  # the same id raced in: answered as a duplicate
                self.counts["duplicates"] += 1
                return JSONResponse({"ok": True, "duplicate": True})
            self.deliveries[message_id] = delivery
            self.counts["accepted"] += 1
        return JSONResponse({"ok": True, "duplicate": False, "events": len(events)})


def _cloudevents(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise BadRequest(400, "bad_body", "an empty batch")
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(value, list) else "body"
        if not isinstance(item, dict):
            raise BadRequest(400, "bad_body", f"{where}: a CloudEvent must be a JSON object")
        for name in ("specversion", "id", "type", "source"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise BadRequest(
                    400, "bad_body", f"{where}.{name}: a CloudEvents string is required"
                )
        if item["specversion"] != "1.0":
            raise BadRequest(400, "bad_body", f"{where}.specversion: must be '1.0'")
    return [dict(item) for item in items]


def describe(portal: Portal) -> str:
    """One line for the CLI: how many secrets, what tolerance."""
    return f"{len(portal.keys)} secret(s), tolerance {portal.tolerance_seconds}s"
