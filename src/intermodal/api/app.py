"""The hub's HTTP application.

Partner ingress is the hot path: verify on the raw bytes, validate the events, hand the
message to the group committer, answer 202 once it is durable. Everything else (reads,
health, admin) is ordinary FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from intermodal import __version__
from intermodal.api.errors import ApiError, install, problem
from intermodal.api.http import bearer_token, correlation_id, read_body, store_durably
from intermodal.canonical.events import (
    EventError,
    decode_json,
    parse_all_or_none,
    parse_event,
    parse_events,
)
from intermodal.config import READ_SCOPE, WRITE_SCOPE, Settings, token_hash
from intermodal.engine import reads
from intermodal.engine.inbox import InboxMessage, Receipt
from intermodal.hub import Hub
from intermodal.ingress.edi import edi_intake_router
from intermodal.ingress.odoo_capture import odoo_capture_router
from intermodal.ingress.signatures import SignatureError, verify
from intermodal.observe import traces
from intermodal.observe.memory import gc_paused
from intermodal.outbox import dead_letters
from intermodal.store import Store

log = logging.getLogger(__name__)
_JSON_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)


class ReplayRequest(BaseModel):
    ids: list[Annotated[str, Field(min_length=1, max_length=80)]] | None = Field(
        default=None, max_length=100_000
    )
    all: bool = False
    endpoint: str | None = None


def _batch_messages(
    partner: str, corr: str, value: list[Any]
) -> tuple[list[dict[str, Any]], list[InboxMessage], list[int]]:
    """A result per event of a batch, the inbox message of each valid one, and where each
    message's result sits among the results (to add its receipt once stored)."""
    valid = parse_all_or_none(value)
    if valid is not None:  # every event valid (the usual case): no per-item branching
        dumps = orjson.dumps
        messages = [
            InboxMessage(partner, event.id, "batch", "application/json", dumps(item), corr)
            for event, item in zip(valid, value, strict=True)
        ]
        results = [
            {"index": index, "id": m.message_id, "status": "accepted"}
            for index, m in enumerate(messages)
        ]
        return results, messages, list(range(len(messages)))
    results = []
    messages = []
    positions: list[int] = []
    for index, item in enumerate(value):
        try:
            event = parse_event(item, str(index))
        except EventError as exc:
            event_id = (
                item.get("id")
                if isinstance(item, dict) and isinstance(item.get("id"), str)
                else None
            )
            results.append(
                {"index": index, "id": event_id, "status": "rejected", "errors": exc.problems}
            )
            continue
        positions.append(len(results))
        results.append({"index": index, "id": event.id, "status": "accepted"})
        messages.append(
            InboxMessage(partner, event.id, "batch", "application/json", orjson.dumps(item), corr)
        )
    return results, messages, positions


def create_app(
    settings: Settings,
    store: Store | None = None,
    dispatch: bool = True,
    applier: Literal["thread", "process"] = "thread",
) -> ASGIApp:
    """Build the application; the hub's workers start and stop with its lifespan.

    `applier` is where the applier runs unless the configuration says (`hub.applier`).
    """
    hub_holder: dict[str, Hub] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub = Hub.create(settings, store, applier)
        await hub.start(dispatch=dispatch)
        hub_holder["hub"] = hub
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        title="intermodal",
        version=__version__,
        summary="Integration hub for logistics companies that run Odoo.",
        lifespan=lifespan,
        # FastAPI's native telemetry reads the tracer provider on every request; tracing
        # will be wired explicitly (observe/), not per request by default.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install(app)

    def hub() -> Hub:
        return hub_holder["hub"]

    app.include_router(odoo_capture_router(settings, hub))  # Odoo webhooks
    app.include_router(edi_intake_router(settings, hub))  # X12 / EDIFACT intake
    if settings.tower is not None:  # the operator web UI; absent config = 404
        from intermodal.dashboard import tower_app

        app.mount("/tower", tower_app(settings, hub))

    tolerance = settings.hub.signature_tolerance_seconds
    max_body = settings.hub.max_body_bytes

    def require_json(headers: Mapping[str, str]) -> str:
        content_type = headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in _JSON_TYPES:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"content-type must be one of {', '.join(_JSON_TYPES)}",
            )
        return media

    def partner_for(request: Request, scope: str) -> str:
        token = bearer_token(request.headers)
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "a bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        entry = settings.tokens.get(token_hash(token))
        if entry is None:
            raise ApiError(
                401,
                "unauthorized",
                "the bearer token is not valid",
                headers={"WWW-Authenticate": "Bearer"},
            )
        partner, scopes = entry
        if scope not in scopes:
            raise ApiError(403, "forbidden", f"this token lacks the '{scope}' scope")
        return partner

    def require_admin(request: Request) -> str:
        token = bearer_token(request.headers)
        admin = settings.admin_token
        if admin is None:
            raise ApiError(
                403, "forbidden", "admin API disabled: set hub.admin_token in the configuration"
            )
        if token is None or not admin.matches(token):
            raise ApiError(
                401,
                "unauthorized",
                "a valid admin token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return f"admin:{admin.fingerprint()}"

    def receipt_body(receipt: Receipt, count: int, corr: str) -> dict[str, Any]:
        return {
            "receipt_id": receipt.receipt_id,
            "received_at": receipt.received_at,
            "duplicate": receipt.duplicate,
            "conflict": receipt.conflict,
            "events": count,
            "correlation_id": corr,
        }

    # -- ingress -------------------------------------------------------------------------
    @app.post(
        "/v1/webhooks/{partner}",
        status_code=202,
        tags=["ingress"],
        summary="Receive a Standard Webhooks-signed message (one canonical event or an array)",
        responses={200: {"description": "duplicate webhook-id: the original receipt"}},
    )
    async def webhook(partner: str, request: Request) -> Response:
        # Served by the ingress fast path below; this route documents it in OpenAPI and
        # serves it when the app is mounted without the fast path.
        return await webhook_response(partner, request.headers, await read_body(request, max_body))

    async def webhook_response(partner: str, headers: Mapping[str, str], body: bytes) -> Response:
        config = settings.partners.get(partner)
        if config is None:
            return problem(404, "unknown_partner", f"no partner named '{partner}'")
        started = time.perf_counter()
        metrics = hub().metrics
        corr = correlation_id(headers)
        span_attributes = {"intermodal.partner": partner, "intermodal.channel": "webhook"}
        with traces.ingress_span("ingress webhook", corr, headers, span_attributes) as span:
            try:
                response, result = await receive_webhook(
                    partner, config.webhook_keys, headers, body, corr
                )
            except ApiError as exc:
                metrics.ingress.labels(partner, "webhook", "rejected").inc()
                if span is not None:
                    span.set_attributes({"http.response.status_code": exc.status})
                return problem(exc.status, exc.code, exc.message, exc.details, exc.headers)
            if span is not None:
                span.set_attributes(
                    {"http.response.status_code": response.status_code, "intermodal.result": result}
                )
        metrics.received(partner, "webhook", result, time.perf_counter() - started)
        return response

    async def receive_webhook(
        partner: str, keys: tuple[bytes, ...], headers: Mapping[str, str], body: bytes, corr: str
    ) -> tuple[Response, str]:
        require_json(headers)
        try:
            verify(
                keys,
                headers.get("webhook-id"),
                headers.get("webhook-timestamp"),
                headers.get("webhook-signature"),
                body,
                tolerance=tolerance,
            )
        except SignatureError as exc:
            raise ApiError(
                exc.status, "bad_signature" if exc.status == 401 else "bad_request", str(exc)
            ) from None
        try:
            if settings.partners[partner].mapping is not None:  # its own JSON:
                decode_json(body)  # mapped at normalize; bad mappings go to quarantine
                events: list[Any] = []
            else:
                events = parse_events(body, settings.hub.max_batch_events)
        except EventError as exc:
            status = (
                400
                if exc.problems and exc.problems[0]["msg"].startswith("body is not valid JSON")
                else 422
            )
            raise ApiError(
                status, "invalid_event" if status == 422 else "bad_json", str(exc), exc.problems
            ) from None
        message = InboxMessage(
            partner, headers["webhook-id"], "webhook", "application/json", body, corr
        )
        (receipt,) = await store_durably(hub().committer, [message])
        if receipt.conflict:
            raise ApiError(409, "conflict", "this webhook-id was already used for a different body")
        response = _ReceiptResponse(
            orjson.dumps(receipt_body(receipt, len(events), corr)),
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

    @app.post(
        "/v1/events",
        status_code=202,
        tags=["ingress"],
        summary="Submit a batch of canonical events (bearer token; a result per event)",
    )
    async def batch(request: Request) -> Response:
        partner = partner_for(request, WRITE_SCOPE)
        started = time.perf_counter()
        require_json(request.headers)
        body = await read_body(request, max_body)
        try:
            with gc_paused():  # 10,000 dicts, then models: see observe.memory.gc_paused
                value = decode_json(body)
        except EventError as exc:
            raise ApiError(400, "bad_json", str(exc), exc.problems) from None
        if isinstance(value, dict) and isinstance(value.get("events"), list):
            value = value["events"]
        if not isinstance(value, list):
            raise ApiError(
                422, "invalid_batch", 'body must be a JSON array of events (or {"events": [...]})'
            )
        limit = settings.hub.max_batch_events
        if len(value) > limit:
            raise ApiError(
                413, "payload_too_large", f"at most {limit} events per batch, got {len(value)}"
            )
        corr = correlation_id(request.headers)
        with gc_paused():  # no await inside: the pause is process-wide
            results, messages, positions = _batch_messages(partner, corr, value)
        if messages:
            with traces.ingress_span(
                "ingress batch",
                corr,
                request.headers,
                {"intermodal.partner": partner, "intermodal.messages": len(messages)},
            ):
                receipts = await store_durably(hub().committer, messages)
            for position, receipt in zip(positions, receipts, strict=True):
                results[position]["receipt_id"] = receipt.receipt_id
                if receipt.conflict:
                    results[position]["status"] = "conflict"
                elif receipt.duplicate:
                    results[position]["status"] = "duplicate"
        tally = Counter(r["status"] for r in results)
        counts = {s: tally[s] for s in ("accepted", "duplicate", "conflict", "rejected")}
        metrics = hub().metrics
        for result_name, count in counts.items():
            if count:
                metrics.ingress.labels(partner, "batch", result_name).inc(count)
        if messages:
            metrics.ack_latency.labels(partner, "batch").observe(time.perf_counter() - started)
            metrics.last_message.labels(partner).set(time.time())
        status = 202 if counts["accepted"] or counts["duplicate"] else 422
        return Response(
            orjson.dumps({**counts, "correlation_id": corr, "results": results}),
            status_code=status,
            media_type="application/json",
        )

    # -- reads ---------------------------------------------------------------------------
    def may_read_all(request: Request) -> bool:
        token = bearer_token(request.headers)
        if token is None:
            return False
        entry = settings.tokens.get(token_hash(token))
        if entry is not None and READ_SCOPE in entry[1]:
            return True
        return settings.admin_token is not None and settings.admin_token.matches(token)

    @app.get("/v1/shipments/{key}", tags=["shipments"], summary="A shipment's current state")
    async def get_shipment(key: str, request: Request) -> dict[str, Any]:
        found = reads.shipment(hub().store, key, full=may_read_all(request))
        if found is None:
            raise ApiError(404, "not_found", f"no shipment '{key}'")
        return found

    @app.get(
        "/v1/shipments/{key}/timeline",
        tags=["shipments"],
        summary="Every event of a shipment, flagged",
    )
    async def get_timeline(key: str) -> list[dict[str, Any]]:
        found = reads.timeline(hub().store, key)
        if found is None:
            raise ApiError(404, "not_found", f"no shipment '{key}'")
        return found

    @app.get(
        "/v1/receipts/{receipt_id}", tags=["ingress"], summary="What became of a received message"
    )
    async def get_receipt(receipt_id: str) -> dict[str, Any]:
        found = reads.receipt(hub().store, receipt_id)
        if found is None:
            raise ApiError(404, "not_found", f"no receipt '{receipt_id}'")
        return found

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
    )
    async def metrics() -> Response:
        body = await asyncio.to_thread(hub().metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- health --------------------------------------------------------------------------
    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The store answers and every worker runs")
    async def readyz() -> Response:
        workers = hub().alive()
        try:
            with hub().store.read() as conn:
                conn.exec_driver_sql("SELECT 1")
            store_ok = True
        except Exception:
            store_ok = False
        ready = store_ok and all(workers.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "store": store_ok, "workers": workers},
            status_code=200 if ready else 503,
        )

    # -- admin ---------------------------------------------------------------------------
    @app.get("/v1/admin/dead-letters", tags=["admin"], summary="List dead letters")
    async def admin_list(
        request: Request,
        endpoint: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        after: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        require_admin(request)
        items, total = dead_letters.list_dead_letters(hub().store, endpoint, limit, after)
        return {"total": total, "items": items}

    @app.get(
        "/v1/admin/dead-letters/{command_id}",
        tags=["admin"],
        summary="One dead letter with its payload",
    )
    async def admin_show(command_id: str, request: Request) -> dict[str, Any]:
        require_admin(request)
        found = dead_letters.get_dead_letter(hub().store, command_id)
        if found is None:
            raise ApiError(404, "not_found", f"no dead letter '{command_id}'")
        return found

    @app.post(
        "/v1/admin/dead-letters/replay", tags=["admin"], summary="Replay dead letters by id, or all"
    )
    async def admin_replay(
        request: Request, payload: Annotated[ReplayRequest, Body()]
    ) -> dict[str, Any]:
        actor = require_admin(request)
        if not payload.all and not payload.ids:
            raise ApiError(422, "invalid", "give 'ids' or set 'all': true")
        count = await hub().replay_dead_letters(actor, payload.ids, payload.all, payload.endpoint)
        return {"replayed": count}

    return IngressFastPath(app, webhook_response, max_body)


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


__all__ = ["create_app"]
