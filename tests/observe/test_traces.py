"""One signed webhook that ends in Odoo writes is one trace: ingress -> group commit,
apply, dispatch -> Odoo calls, with the attributes an operator searches by.

The hub runs for real (HTTP on loopback, committer and applier threads, dispatcher, the
Odoo sink) against the Odoo test server; spans go to the SDK's in-memory exporter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from intermodal.config import Settings
from intermodal.observe import traces
from intermodal_sim.odoo.testing import RunningSim
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from intermodal_sim.testing.odoo import seed_orders
from tests.conftest import new_secret
from tests.observe.helpers import milestone, send_webhook

CALLER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    traces.install(memory, batch=False)
    try:
        yield memory
    finally:
        traces.shutdown()


def hub_settings(
    make_settings: Callable[..., Settings], db: str, sim: RunningSim, secret: str
) -> Settings:
    return make_settings(
        {
            "hub": {"database": db},
            "partners": {"carrier": {"webhook_secrets": ["env:OBS_CARRIER_S"]}},
            "endpoints": {
                "odoo": {
                    "kind": "odoo",
                    "url": sim.url,
                    "batch_size": 50,
                    "options": {
                        "database": sim.db,
                        "api_key": "env:OBS_ODOO_KEY",
                        "protocol": "json2",
                        "linger_ms": 0,
                        "note_milestones": None,  # every milestone noted: the note's span
                    },
                }
            },
        },
        env={"OBS_CARRIER_S": secret},
    )


def by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def test_one_webhook_is_one_trace_down_to_the_odoo_write(
    exporter: InMemorySpanExporter,
    sim: RunningSim,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    secret = new_secret()
    settings = hub_settings(make_settings, f"sqlite:///{tmp_path / 'hub.db'}", sim, secret)
    asyncio.run(seed_orders(settings.endpoints["odoo"], ["SHP-T1"]))
    exporter.clear()  # seeding is not part of the scenario
    with running_hub(settings) as url, httpx.Client(base_url=url) as client:
        response = send_webhook(
            client,
            "carrier",
            secret,
            milestone("evt-t1", "SHP-T1", "picked_up", 9),
            "msg-t1",
            headers={"x-correlation-id": "corr-trace-1", "traceparent": CALLER_TRACEPARENT},
        )
        assert response.status_code == 202

        def odoo_written() -> bool:
            return any(
                s.name == "odoo stock.picking.button_validate"
                for s in exporter.get_finished_spans()
            )

        wait_until(odoo_written, timeout=20)
        wait_until(lambda: by_name(list(exporter.get_finished_spans()), "outbox.dispatch"))
    spans = list(exporter.get_finished_spans())
    trace_id, ingress_span_id = traces.trace_ids("corr-trace-1")
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    ids = {s.context.span_id: s for s in in_trace}

    (ingress,) = by_name(in_trace, "ingress webhook")
    assert ingress.parent is None  # the root of the message's trace
    assert ingress.context.span_id == ingress_span_id
    assert ingress.kind is SpanKind.SERVER
    assert ingress.attributes is not None
    assert ingress.attributes["intermodal.partner"] == "carrier"
    assert ingress.attributes["intermodal.correlation_id"] == "corr-trace-1"
    assert ingress.attributes["http.response.status_code"] == 202
    # the caller's trace is linked, not joined
    assert [link.context.trace_id for link in ingress.links] == [
        int("0af7651916cd43dd8448eb211c80319c", 16)
    ]

    (commit,) = by_name(in_trace, "inbox.group_commit")
    assert commit.parent is not None and commit.parent.span_id == ingress_span_id
    assert commit.attributes is not None and commit.attributes["intermodal.rows"] == 1

    (apply,) = by_name(in_trace, "apply")
    assert apply.parent is not None and apply.parent.span_id == ingress_span_id
    assert apply.attributes is not None
    assert apply.attributes["intermodal.messages"] == 1
    assert apply.attributes["intermodal.partner"] == "carrier"
    (batch,) = [s for s in spans if s.name == "apply.batch"]
    assert [link.context.span_id for link in apply.links] == [batch.context.span_id]
    assert batch.attributes is not None and batch.attributes["intermodal.commands"] == 1

    (dispatch,) = by_name(in_trace, "outbox.dispatch")
    assert dispatch.name == "outbox.dispatch odoo"
    assert dispatch.parent is not None and dispatch.parent.span_id == ingress_span_id
    assert dispatch.attributes is not None
    assert dispatch.attributes["intermodal.shipment_keys"] == ("SHP-T1",)
    assert dispatch.attributes["intermodal.commands"] == 1
    assert dispatch.attributes["intermodal.delivered"] == 1

    odoo_calls = by_name(in_trace, "odoo ")
    assert odoo_calls, "the Odoo calls are in the message's trace"
    for call in odoo_calls:
        assert call.kind is SpanKind.CLIENT
        # each Odoo call sits under the dispatch, directly or through another span
        parent = call.parent
        chain = []
        while parent is not None and parent.span_id in ids:
            chain.append(ids[parent.span_id].name)
            parent = ids[parent.span_id].parent
        assert "outbox.dispatch odoo" in chain
        assert chain[-1] == "ingress webhook"
    (validate,) = [s for s in odoo_calls if s.name == "odoo stock.picking.button_validate"]
    assert validate.attributes is not None
    assert validate.attributes["odoo.model"] == "stock.picking"
    assert validate.attributes["odoo.method"] == "button_validate"
    assert validate.attributes["odoo.records"] == 1
    (note,) = [s for s in odoo_calls if s.name == "odoo sale.order.message_post"]
    assert note.attributes is not None and note.attributes["odoo.records"] == 1


def test_tracing_off_records_nothing_and_costs_no_span(
    sim: RunningSim, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    traces.shutdown()
    assert traces.tracer() is None
    secret = new_secret()
    settings = hub_settings(make_settings, f"sqlite:///{tmp_path / 'hub.db'}", sim, secret)
    with traces.ingress_span("x", "corr", {}, {}) as span:
        assert span is None
    with running_hub(settings) as url, httpx.Client(base_url=url) as client:
        body = milestone("evt-off", "SHP-OFF", "booked", 8)
        assert send_webhook(client, "carrier", secret, body, "msg-off").status_code == 202
    assert traces.tracer() is None


def test_otlp_export_is_configured_from_the_standard_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    try:
        assert traces.configure(None) is True
        assert traces.tracer() is not None
    finally:
        traces.shutdown()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert traces.configure(None) is False
    assert traces.tracer() is None


def test_trace_ids_are_derived_from_the_correlation_id() -> None:
    assert traces.trace_ids("corr-a") == traces.trace_ids("corr-a")
    assert traces.trace_ids("corr-a") != traces.trace_ids("corr-b")
    trace_id, span_id = traces.trace_ids("corr-a")
    assert 0 < trace_id < 2**128 and 0 < span_id < 2**64


def test_routes_without_their_own_span_get_an_ingress_root(
    exporter: InMemorySpanExporter, sqlite_url: str
) -> None:
    """Odoo webhooks, the Odoo poller and EDI submit to the group committer with no span
    of their own: it opens the root their correlation id names, with the commit under it."""
    from intermodal.api.http import store_durably
    from intermodal.engine.inbox import GroupCommitter, InboxMessage
    from intermodal.store import open_store

    store = open_store(sqlite_url)
    committer = GroupCommitter(store)
    committer.start()
    try:
        message = InboxMessage("odoo", "m-1", "odoo", "application/json", b"{}", "corr-odoo-1")
        (receipt,) = asyncio.run(store_durably(committer, [message]))
        assert not receipt.duplicate
    finally:
        committer.stop()
        store.dispose()
    spans = list(exporter.get_finished_spans())
    trace_id, span_id = traces.trace_ids("corr-odoo-1")
    (root,) = [s for s in spans if s.name == "ingress odoo"]
    assert root.parent is None
    assert (root.context.trace_id, root.context.span_id) == (trace_id, span_id)
    (commit,) = [s for s in spans if s.name == "inbox.group_commit"]
    assert commit.parent is not None and commit.parent.span_id == span_id


def test_sampling_keeps_or_drops_a_whole_trace() -> None:
    """The decision depends on the trace id only, so ingress, apply and dispatch agree."""
    from types import SimpleNamespace

    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    memory = InMemorySpanExporter()
    traces.install(memory, sample_ratio=0.5, batch=False)
    bound = TraceIdRatioBased(0.5).bound
    kept = next(f"c{i}" for i in range(100) if traces.trace_ids(f"c{i}")[0] & (2**64 - 1) < bound)
    dropped = next(
        f"c{i}" for i in range(100) if traces.trace_ids(f"c{i}")[0] & (2**64 - 1) >= bound
    )
    try:
        for corr in (kept, dropped):
            with traces.ingress_span("ingress webhook", corr, {}, {}):
                pass
            row = SimpleNamespace(
                correlation_id=corr, receipt_id="r", partner="p", command_id="c", subject="S"
            )
            traces.record_apply([row], 0, 1, 1)
            with traces.dispatch_span("portal", "webhook", [row]):
                pass
    finally:
        traces.shutdown()
    by_trace: dict[int, set[str]] = {}
    for span in memory.get_finished_spans():
        by_trace.setdefault(span.context.trace_id, set()).add(span.name)
    assert by_trace[traces.trace_ids(kept)[0]] == {
        "ingress webhook",
        "apply",
        "outbox.dispatch portal",
    }
    assert traces.trace_ids(dropped)[0] not in by_trace


def test_spans_reach_an_otlp_http_collector(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """`telemetry.otlp_endpoint` set: the hub exports OTLP/HTTP protobuf to it."""
    import threading

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    received: list[ExportTraceServiceRequest] = []
    lock = threading.Lock()

    async def collect(request: Request) -> Response:
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        with lock:
            received.append(export)
        return Response(b"", media_type="application/x-protobuf")

    collector = Starlette(routes=[Route("/v1/traces", collect, methods=["POST"])])
    secret = new_secret()
    try:
        with serve_in_thread(collector) as collector_url:
            settings = make_settings(
                {
                    "hub": {"database": f"sqlite:///{tmp_path / 'hub.db'}"},
                    "telemetry": {"otlp_endpoint": collector_url, "service_name": "hub-under-test"},
                    "partners": {"carrier": {"webhook_secrets": ["env:OBS_OTLP_S"]}},
                },
                env={"OBS_OTLP_S": secret},
            )
            with running_hub(settings) as url, httpx.Client(base_url=url) as client:
                body = milestone("evt-otlp", "SHP-OTLP", "booked", 8)
                headers = {"x-correlation-id": "corr-otlp"}
                response = send_webhook(client, "carrier", secret, body, "m-otlp", headers)
                assert response.status_code == 202

                def exported() -> bool:
                    traces.flush()
                    with lock:
                        names = {
                            span.name
                            for export in received
                            for resource in export.resource_spans
                            for scope in resource.scope_spans
                            for span in scope.spans
                        }
                    return {"ingress webhook", "inbox.group_commit", "apply"} <= names

                wait_until(exported, timeout=20)
    finally:
        traces.shutdown()
    trace_id = traces.trace_ids("corr-otlp")[0].to_bytes(16, "big")
    resource = received[0].resource_spans[0].resource
    attributes = {a.key: a.value.string_value for a in resource.attributes}
    assert attributes["service.name"] == "hub-under-test"
    spans = [
        s for e in received for r in e.resource_spans for sc in r.scope_spans for s in sc.spans
    ]
    assert {s.name for s in spans if s.trace_id == trace_id} >= {"ingress webhook", "apply"}
