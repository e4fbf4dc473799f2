"""OpenTelemetry traces: one trace per correlation id, from ingress to the Odoo call.

How the stages are linked, and why. A message crosses four workers that share no call
stack: the request handler (asyncio), the group committer (a thread), the applier (another
thread, often seconds later or in another process on PostgreSQL), and the dispatcher (an
asyncio task, possibly minutes later after retries). What they do share is the
correlation id, which every stored row already carries (inbox, events, outbox). So the
trace is *derived* from it: trace id = the first 16 bytes of SHA-256 of the correlation
id, and the ingress request span's id = the next 8 bytes. Every later stage recomputes
that pair from the row it works on and starts its span as a child of the ingress span.

- No new column, no migration, nothing extra written on the hot path when tracing is off;
  commands that other code writes into the outbox (workflows, replays, Odoo webhooks)
  join the right trace just by carrying the correlation id they already carry.
- Several hub processes sharing one PostgreSQL database put their spans into one trace
  without talking to each other.
- A caller's W3C `traceparent` is *linked* from the ingress span (a span link), not used
  as its parent: the trace must stay the one the correlation id names, or the applier
  and the dispatcher could not find it again. Outbound webhooks carry our `traceparent`
  so a receiver can continue the trace.
- Work that serves many messages at once (a group commit, an apply batch, a delivery of
  several commands) is recorded once per trace it touches: a span under each message's
  ingress span with the shared timing, linked to the others, so each trace is whole.
- The cost of a reused correlation id (a partner sending the same `X-Correlation-Id` on
  every request) is that those requests share one trace and one ingress span id; the
  spans stay distinguishable by their attributes (receipt id, message id).

Tracing is off unless configured (`telemetry.otlp_endpoint` or the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables); then
`tracer()` is None and every hook is one `is None` check. Tests install a provider with
the SDK's in-memory exporter through `install()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, TraceFlags, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from intermodal import __version__

_SCOPE = "intermodal"
_MAX_LIST = 50  # attribute lists (command ids, receipts) are capped: spans stay small
_next_ids: ContextVar[tuple[int, int] | None] = ContextVar("intermodal_next_ids", default=None)
_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_propagator = TraceContextTextMapPropagator()


class _CorrelationIds(IdGenerator):
    """Random ids, except for the one span `ingress_span` asks to have derived ids."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        ids = _next_ids.get()
        return ids[0] if ids is not None else self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        ids = _next_ids.get()
        return ids[1] if ids is not None else self._random.generate_span_id()


def trace_ids(correlation_id: str) -> tuple[int, int]:
    """The trace id and the ingress span id of a correlation id (never zero)."""
    digest = hashlib.sha256(b"intermodal-trace:" + correlation_id.encode()).digest()
    trace_id = int.from_bytes(digest[:16], "big") or 1
    span_id = int.from_bytes(digest[16:24], "big") or 1
    return trace_id, span_id


def ingress_span_context(correlation_id: str) -> SpanContext:
    trace_id, span_id = trace_ids(correlation_id)
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )


def ingress_context(correlation_id: str) -> Context:
    """A context whose current span is the message's ingress span: later stages' parent."""
    return trace.set_span_in_context(
        trace.NonRecordingSpan(ingress_span_context(correlation_id)), Context()
    )


# -- set-up --------------------------------------------------------------------------------
def otlp_endpoint(configured: str | None) -> str | None:
    """Where to send spans: the configuration, else the standard OTEL variables."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    return (
        configured
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def install(
    exporter: SpanExporter,
    *,
    service_name: str = "intermodal",
    sample_ratio: float = 1.0,
    batch: bool = True,
) -> TracerProvider:
    """Trace into `exporter` from now on (one provider per process; replaces the last)."""
    global _provider, _tracer
    shutdown()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name, "service.version": __version__}),
        id_generator=_CorrelationIds(),
        # By trace id alone, not by parent: every stage, in every process, makes the same
        # decision for a message, so a sampled trace is whole and an unsampled one absent.
        sampler=TraceIdRatioBased(sample_ratio),
    )
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    )
    _provider = provider
    _tracer = provider.get_tracer(_SCOPE, __version__)
    return provider


def configure(
    endpoint: str | None,
    service_name: str = "intermodal",
    sample_ratio: float = 1.0,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Export over OTLP/HTTP when an endpoint is configured; True if tracing is now on.

    Without an endpoint this leaves things as they are (off, or a provider a test
    installed). A base URL gets `/v1/traces` appended, as the OTEL variables specify.
    """
    url = otlp_endpoint(endpoint)
    if url is None:
        return _tracer is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if not url.rstrip("/").endswith("/v1/traces"):
        url = url.rstrip("/") + "/v1/traces"
    install(
        OTLPSpanExporter(endpoint=url, headers=dict(headers) if headers else None),
        service_name=service_name,
        sample_ratio=sample_ratio,
    )
    return True


def shutdown() -> None:
    """Flush and stop the current provider (tracing is off afterwards)."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider = None
    _tracer = None


def flush() -> None:
    if _provider is not None:
        _provider.force_flush()


def tracer() -> Tracer | None:
    """The hub's tracer, or None when tracing is off (the hooks' one check)."""
    return _tracer


# -- spans of the stages -------------------------------------------------------------------
@contextlib.contextmanager
def ingress_span(
    name: str, correlation_id: str, headers: Mapping[str, str], attributes: Mapping[str, Any]
) -> Iterator[Span | None]:
    """The root span of a message's trace, with the ids its correlation id names."""
    t = _tracer
    if t is None:
        yield None
        return
    links = []
    if "traceparent" in headers:
        caller = trace.get_current_span(_propagator.extract(headers)).get_span_context()
        if caller.is_valid:
            links.append(Link(caller, {"intermodal.link": "caller"}))
    token = _next_ids.set(trace_ids(correlation_id))
    try:
        span = t.start_span(
            name,
            context=Context(),
            kind=SpanKind.SERVER,
            links=links,
            attributes={"intermodal.correlation_id": correlation_id, **_clean(attributes)},
        )
    finally:
        _next_ids.reset(token)
    with trace.use_span(span, end_on_exit=True):
        yield span


def current_span_context() -> SpanContext | None:
    """The span a request is in, to hand to work done for it on another thread."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def record_group_commit(
    parents: Iterable[SpanContext | None], started_ns: int, rows: int, requests: int
) -> None:
    """One `inbox.group_commit` span under each request's span, with the commit's timing."""
    t = _tracer
    if t is None:
        return
    ended = time.time_ns()
    for parent in parents:
        if parent is None:
            continue
        span = t.start_span(
            "inbox.group_commit",
            context=trace.set_span_in_context(trace.NonRecordingSpan(parent), Context()),
            start_time=started_ns,
            attributes={"intermodal.rows": rows, "intermodal.requests": requests},
        )
        span.end(end_time=ended)


def record_apply(rows: Sequence[Any], started_ns: int, messages: int, commands: int) -> None:
    """An `apply.batch` span, and an `apply` span under each ingress span it served.

    `rows` are the inbox rows of the batch (receipt_id, partner, correlation_id).
    """
    t = _tracer
    if t is None or not rows:
        return
    ended = time.time_ns()
    batch = t.start_span(
        "apply.batch",
        context=Context(),
        start_time=started_ns,
        attributes={"intermodal.messages": messages, "intermodal.commands": commands},
    )
    batch.end(end_time=ended)
    by_correlation: dict[str, list[Any]] = {}
    for row in rows:
        by_correlation.setdefault(row.correlation_id, []).append(row)
    link = Link(batch.get_span_context())
    for correlation_id, group in by_correlation.items():
        span = t.start_span(
            "apply",
            context=ingress_context(correlation_id),
            start_time=started_ns,
            links=[link],
            attributes={
                "intermodal.correlation_id": correlation_id,
                "intermodal.partner": group[0].partner,
                "intermodal.messages": len(group),
                "intermodal.receipt_ids": [r.receipt_id for r in group[:_MAX_LIST]],
            },
        )
        span.end(end_time=ended)


@contextlib.contextmanager
def dispatch_span(endpoint: str, kind: str, rows: Sequence[Any]) -> Iterator[Span | None]:
    """`outbox.dispatch` for a delivery of commands; the sink's calls nest under it.

    The span lives in the trace of the first command's correlation id and links the
    ingress spans of the others (a delivery can carry commands of several messages).
    """
    t = _tracer
    if t is None or not rows:
        yield None
        return
    correlation_ids = list(dict.fromkeys(r.correlation_id for r in rows))
    links = [Link(ingress_span_context(c)) for c in correlation_ids[1:_MAX_LIST]]
    subjects = [s for s in dict.fromkeys(r.subject for r in rows) if s is not None]
    with t.start_as_current_span(
        f"outbox.dispatch {endpoint}",
        context=ingress_context(correlation_ids[0]),
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            "intermodal.endpoint": endpoint,
            "intermodal.endpoint_kind": kind,
            "intermodal.commands": len(rows),
            "intermodal.command_ids": [r.command_id for r in rows[:_MAX_LIST]],
            "intermodal.shipment_keys": subjects[:_MAX_LIST],
            "intermodal.correlation_id": correlation_ids[0],
        },
    ) as span:
        yield span


@contextlib.contextmanager
def client_span(name: str, attributes: Mapping[str, Any]) -> Iterator[Span | None]:
    """A CLIENT span for an outbound call (a webhook POST, an Odoo call)."""
    t = _tracer
    if t is None:
        yield None
        return
    with t.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=_clean(attributes)) as s:
        yield s


def inject(headers: dict[str, str]) -> None:
    """Add the current span's `traceparent` to outbound headers (when tracing is on)."""
    if _tracer is not None:
        _propagator.inject(headers)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
