"""Signed webhooks in: `POST /v1/webhooks/{partner}`, the hub's hot path (every carrier scan).

Verify the partner's signature on the raw bytes (Standard Webhooks, or its vendor's own
scheme: `vendor_signatures`), resolve the partner, validate the
events (or leave a mapped partner's own JSON to normalize), hand the message to the group
committer and answer 202 once it is durable; 200 with the original receipt for a repeat,
409 when a webhook-id comes back with another body.

`IngressFastPath` serves this route straight from ASGI; the FastAPI route here documents
it in OpenAPI and serves it when the application runs without the fast path. Both call
`webhook_response`, so behaviour, errors and metrics are the same either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from intermodal.api.errors import ApiError, error_response, problem
from intermodal.api.http import (
    NO_PARTNER_KEYS,
    correlation_id,
    read_body,
    require_json,
    store_durably,
    verify_signature,
)
from intermodal.canonical.events import CanonicalEvent, EventError, decode_partner_json
from intermodal.engine.inbox import InboxMessage, Receipt
from intermodal.engine.partitions import route
from intermodal.ingress.cloudevents import webhook_events
from intermodal.ingress.rate_limit import RateLimits
from intermodal.ingress.signatures import SignatureError
from intermodal.ingress.vendor_signatures import VendorSignature
from intermodal.observe import traces

if TYPE_CHECKING:
    from intermodal.config import Settings
    from intermodal.hub import Hub

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingress"])


@router.post(
    "/v1/webhooks/{partner}",
    status_code=202,
    summary="Receive a Standard Webhooks-signed message (one canonical event or an array)",
    responses={200: {"description": "duplicate webhook-id: the original receipt"}},
)
async def webhook(partner: str, request: Request) -> Response:
    state = request.app.state
    body = await read_body(request, state.settings.hub.max_body_bytes)
    return await webhook_response(state, partner, request.headers, body)


async def webhook_response(
    state: State, partner: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """The whole answer to one webhook, from the application's state (`settings`, `hub`).

    Read by item, not attribute: `State.__getattr__` runs only after the normal lookup has
    failed, 0.4 us a read here against 0.07 us for `state["hub"]`, on every webhook.
    """
    settings: Settings = state["settings"]
    config = settings.partners.get(partner)
    if config is None:
        return error_response(_unknown_partner(settings, headers, body), headers)
    hub: Hub = state["hub"]
    limits: RateLimits = state["rate_limits"]
    started = time.perf_counter()
    metrics = hub.metrics
    corr = correlation_id(headers)
    span_attributes = {"intermodal.partner": partner, "intermodal.channel": "webhook"}
    # A token-only partner has no secrets: keys nobody holds answer as for an unknown name.
    keys = config.webhook_keys or NO_PARTNER_KEYS
    with traces.ingress_span("ingress webhook", corr, headers, span_attributes) as span:
        try:
            response, result = await _receive(
                settings, hub, limits, partner, keys, headers, body, corr
            )
        except ApiError as exc:
            if exc.status != 429:  # a refusal by rate limit is counted as rate_limited
                metrics.ingress.labels(partner, "webhook", "rejected").inc()
            if exc.status == 401:  # only the signature check answers 401
                hub.tokens.failed("webhook", "signature", partner)
            if span is not None:
                span.set_attributes({"http.response.status_code": exc.status})
            return error_response(exc, headers)
        if span is not None:
            span.set_attributes(
                {"http.response.status_code": response.status_code, "intermodal.result": result}
            )
    metrics.received(partner, "webhook", result, time.perf_counter() - started)
    return response


async def _receive(
    settings: Settings,
    hub: Hub,
    limits: RateLimits,
    partner: str,
    keys: tuple[bytes, ...],
    headers: Mapping[str, str],
    body: bytes,
    corr: str,
) -> tuple[Response, str]:
    require_json(headers)
    scheme = settings.partners[partner].signature
    if scheme is None:  # Standard Webhooks
        verify_signature(keys, headers, body, settings.hub.signature_tolerance_seconds)
        message_id = headers["webhook-id"]
    else:
        message_id = verify_vendor_signature(scheme, keys, headers, body)
    limits.check(partner, "webhook", hub.metrics)  # once authenticated: see rate_limit
    try:
        if settings.partners[partner].mapping is not None:  # its own JSON:
            decode_partner_json(body)  # mapped at normalize; bad mappings go to quarantine
            events: list[CanonicalEvent] = []
            stored: bytes | None = body
        else:  # CloudEvents: structured, batched or binary mode
            events, stored = webhook_events(headers, body, settings.hub.max_batch_events)
    except EventError as exc:
        status = (
            400
            if exc.problems and exc.problems[0]["msg"].startswith("body is not valid JSON")
            else 422
        )
        raise ApiError(
            status, "invalid_event" if status == 422 else "bad_json", str(exc), exc.problems
        ) from None
    if stored is None:  # an empty batch: valid, nothing to store or apply
        return _ReceiptResponse(orjson.dumps(_empty_receipt(corr)), 200, corr), "accepted"
    message = InboxMessage(
        partner, message_id, "webhook", "application/json", stored, corr,
        route([event.subject for event in events], settings.hub.partitions),
    )  # fmt: skip
    (receipt,) = await store_durably(hub.committer, [message])
    if receipt.conflict:
        named = "webhook-id" if scheme is None else scheme.id_header or "message id"
        raise ApiError(409, "conflict", f"this {named} was already used for a different body")
    response = _ReceiptResponse(
        orjson.dumps(_receipt_body(receipt, len(events), corr)),
        200 if receipt.duplicate else 202,
        corr,
    )
    result = "duplicate" if receipt.duplicate else "accepted"
    if log.isEnabledFor(logging.DEBUG):  # the message's first line
        subjects = {event.subject for event in events}
        extra = {
            "partner": partner,
            "correlation_id": corr,
            "receipt_id": receipt.receipt_id,
            "shipment_key": subjects.pop() if len(subjects) == 1 else None,
        }
        log.debug("webhook %s", result, extra=extra)
    return response, result


def _unknown_partner(settings: Settings, headers: Mapping[str, str], body: bytes) -> ApiError:
    """The answer to a name no partner has: what a Standard Webhooks partner answers to a
    request it cannot authenticate (the same checks, in the same order, against keys
    nothing was signed with), so names cannot be told apart from outside."""
    try:
        require_json(headers)
        verify_signature(NO_PARTNER_KEYS, headers, body, settings.hub.signature_tolerance_seconds)
    except ApiError as exc:
        return exc
    # Unreachable short of guessing a random 256-bit key; answered as a bad signature.
    return ApiError(401, "bad_signature", "no valid v1 signature for this partner's secrets")


def verify_vendor_signature(
    scheme: VendorSignature, keys: tuple[bytes, ...], headers: Mapping[str, str], body: bytes
) -> str:
    """The message id of a webhook signed the partner's own way; a bad one is a 400/401."""
    try:
        return scheme.verify(keys, headers, body)
    except SignatureError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


def _receipt_body(receipt: Receipt, count: int, corr: str) -> dict[str, Any]:
    return {
        "receipt_id": receipt.receipt_id,
        "received_at": receipt.received_at,
        "duplicate": receipt.duplicate,
        "conflict": receipt.conflict,
        "events": count,
        "correlation_id": corr,
    }


def _empty_receipt(corr: str) -> dict[str, Any]:
    """The answer to an empty CloudEvents batch: zero events, and no receipt, since
    nothing was stored."""
    return {
        "receipt_id": None,
        "received_at": None,
        "duplicate": False,
        "conflict": False,
        "events": 0,
        "correlation_id": corr,
    }


_WEBHOOKS = "/v1/webhooks/"


class _ReceiptResponse(Response):
    """A webhook's receipt: JSON, its length and the correlation id, headers built directly.

    Starlette's `Response.__init__` renders the content and derives the headers in Python
    on every answer, 4% of a webhook's CPU (BENCHMARKS.md, W1); these three are known.
    """

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int, correlation: str) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            (b"x-correlation-id", correlation.encode("latin-1")),
        ]


class IngressFastPath:
    """Serves `POST /v1/webhooks/{partner}` straight from ASGI, everything else via FastAPI.

    The webhook is the hot path (every carrier scan). FastAPI's routing, dependency
    solving and middleware chain cost about a third of a webhook's CPU here (BENCHMARKS.md,
    W1 profile) for nothing this route uses; the handler itself is shared with the FastAPI
    route, so behaviour, errors and metrics are the same either way.
    """

    def __init__(
        self,
        app: FastAPI,
        handle: Callable[[str, Mapping[str, str], bytes], Awaitable[Response]],
        max_body: int,
    ) -> None:
        self.app = app
        self.handle = handle
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and path.startswith(_WEBHOOKS)
            and "/" not in path[len(_WEBHOOKS) :]
            and len(path) > len(_WEBHOOKS)
        ):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            body = await self._body(headers, receive)
            if body is None:
                return  # the client went away before sending its body
            if isinstance(body, Response):
                response = body
            else:
                response = await self.handle(path[len(_WEBHOOKS) :], headers, body)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _too_large(self) -> Response:
        return problem(413, "payload_too_large", f"body larger than {self.max_body} bytes")

    async def _body(self, headers: Mapping[str, str], receive: Receive) -> bytes | Response | None:
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def partner_from_path(path: str) -> str | None:
    """The partner a webhook path names, for a request log line the fast path answered."""
    if path.startswith(_WEBHOOKS) and "/" not in path[len(_WEBHOOKS) :]:
        return path[len(_WEBHOOKS) :] or None
    return None


__all__ = ["IngressFastPath", "router", "webhook_response"]
