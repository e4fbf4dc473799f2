"""Batches in: `POST /v1/events`, a JSON array of canonical events under a bearer token.

A system that sends thousands of events at once (a TMS catching up, a nightly export)
gets one result per event: accepted, duplicate, conflict or rejected with the field
problems. The valid ones are stored even when others are not; the answer is 202 if
anything was taken, 200 for an empty `application/cloudevents-batch+json`, else 422.
Every CloudEvents content mode is read (see ingress.cloudevents): a batch, one
structured event, or one binary-mode event.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from intermodal.api.errors import ApiError
from intermodal.api.http import (
    correlation_id,
    hub_of,
    read_body,
    require_json,
    settings_of,
    store_durably,
    token_partner,
)
from intermodal.canonical.events import EventError, parse_all_or_none, parse_event, stored_form
from intermodal.config import WRITE_SCOPE
from intermodal.engine.inbox import InboxMessage, UnstorableMessage
from intermodal.engine.partitions import partition_of
from intermodal.ingress.cloudevents import batch_items, content_mode
from intermodal.observe import traces
from intermodal.observe.memory import gc_paused

router = APIRouter(tags=["ingress"])


@router.post(
    "/v1/events",
    status_code=202,
    summary="Submit a batch of canonical events (bearer token; a result per event)",
)
async def batch(request: Request) -> Response:
    settings = settings_of(request)
    partner = token_partner(request, settings, WRITE_SCOPE)
    request.state.partner = partner  # for the request log line
    request.app.state.rate_limits.check(partner, "batch", hub_of(request).metrics)
    started = time.perf_counter()
    require_json(request.headers)
    body = await read_body(request, settings.hub.max_body_bytes)
    try:
        with gc_paused():  # 10,000 dicts, then models: see observe.memory.gc_paused
            value = batch_items(request.headers, body)
    except EventError as exc:
        bad_json = bool(exc.problems) and exc.problems[0]["msg"].startswith("body is not valid")
        raise ApiError(
            400 if bad_json else 422,
            "bad_json" if bad_json else "invalid_batch",
            str(exc),
            exc.problems,
        ) from None
    limit = settings.hub.max_batch_events
    if len(value) > limit:
        raise ApiError(
            413, "payload_too_large", f"at most {limit} events per batch, got {len(value)}"
        )
    corr = correlation_id(request.headers)
    with gc_paused():  # no await inside: the pause is process-wide
        results, messages, positions = _batch_messages(
            partner, corr, value, settings.hub.partitions
        )
    hub = hub_of(request)
    if messages:
        with traces.ingress_span(
            "ingress batch",
            corr,
            request.headers,
            {"intermodal.partner": partner, "intermodal.messages": len(messages)},
        ):
            try:
                receipts = await store_durably(hub.committer, messages)
            except ApiError as exc:
                if exc.code != UnstorableMessage.code:
                    raise
                _refuse_all(results, positions, exc.message)
                messages, receipts, positions = [], [], []
        for position, receipt in zip(positions, receipts, strict=True):
            results[position]["receipt_id"] = receipt.receipt_id
            if receipt.conflict:
                results[position]["status"] = "conflict"
            elif receipt.duplicate:
                results[position]["status"] = "duplicate"
    tally = Counter(r["status"] for r in results)
    counts = {s: tally[s] for s in ("accepted", "duplicate", "conflict", "rejected")}
    metrics = hub.metrics
    for result_name, count in counts.items():
        if count:
            metrics.ingress.labels(partner, "batch", result_name).inc(count)
    if messages:
        metrics.ack_latency.labels(partner, "batch").observe(time.perf_counter() - started)
        metrics.last_message.labels(partner).set(time.time())
    if counts["accepted"] or counts["duplicate"]:
        status = 202
    else:  # an empty CloudEvents batch is valid (json-format.md 4.3): nothing taken, no error
        status = 200 if not results and content_mode(request.headers) == "batched" else 422
    return Response(
        orjson.dumps({**counts, "correlation_id": corr, "results": results}),
        status_code=status,
        media_type="application/json",
    )


def _refuse_all(results: list[dict[str, Any]], positions: list[int], why: str) -> None:
    """The store refused a value of the batch (the events passed every check first, so
    this is the last line): none of it was stored, each event says so, and the answer is
    a 422 with a result per event, as for events refused at the door."""
    for position in positions:
        result = results[position]
        result["status"] = "rejected"
        result["errors"] = [{"loc": str(result["index"]), "msg": why}]


def _batch_messages(
    partner: str, corr: str, value: list[Any], partitions: int
) -> tuple[list[dict[str, Any]], list[InboxMessage], list[int]]:
    """A result per event of a batch, the inbox message of each valid one (with its
    shipment's partition), and where each message's result sits among the results (to add
    its receipt once stored)."""
    valid = parse_all_or_none(value)
    if valid is not None:  # every event valid (the usual case): no per-item branching
        dumps = orjson.dumps
        messages = [  # every item passed as a whole, so none holds data_base64
            InboxMessage(
                partner, event.id, "batch", "application/json", dumps(item), corr,
                partition_of(event.subject, partitions),
            )
            for event, item in zip(valid, value, strict=True)
        ]  # fmt: skip
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
            InboxMessage(
                partner,
                event.id,
                "batch",
                "application/json",
                orjson.dumps(stored_form(item)),
                corr,
                partition_of(event.subject, partitions),
            )
        )
    return results, messages, positions


__all__ = ["router"]
