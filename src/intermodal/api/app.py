"""The hub's HTTP application, assembled from its route modules.

Each route is a plain function in a small module that finds the hub and its settings on
`request.app.state`: partner ingress under `ingress/` (signed webhooks, batches, EDI,
Odoo changes), reads in `api/shipments.py`, operations in `api/admin.py`, `api/health.py`
and `api/metrics.py`, the landing page and the self-hosted API docs. This module only
puts them together, starts the hub's workers with the application's lifespan, and wraps
the result in the webhook fast path, the refusal of control characters in paths and
queries (api/request_target.py) and the request log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Literal, cast

from fastapi import FastAPI
from starlette.types import ASGIApp

from intermodal import __version__
from intermodal.api import (
    admin,
    docs,
    documents,
    health,
    landing,
    metrics,
    openapi,
    positions,
    shipments,
)
from intermodal.api.access_log import AccessLog
from intermodal.api.errors import install
from intermodal.api.lifecycle import DeprecationHeaders
from intermodal.api.request_target import PlainRequestTarget
from intermodal.config import Settings
from intermodal.hub import Hub
from intermodal.ingress import batch, webhook
from intermodal.ingress import documents as document_intake
from intermodal.ingress.edi import edi_intake_router
from intermodal.ingress.odoo_capture import odoo_capture_router
from intermodal.ingress.rate_limit import RateLimits
from intermodal.store import Store


def create_app(
    settings: Settings,
    store: Store | None = None,
    dispatch: bool = True,
    applier: Literal["thread", "process", "elsewhere"] = "thread",
    wake_address: str | None = None,
    relay_address: str | None = None,
) -> ASGIApp:
    """Build the application; the hub's workers start and stop with its lifespan.

    `applier` is where the applier runs unless the configuration says (`hub.applier`);
    `elsewhere` and `wake_address` make an ingest worker of `serve --workers N`
    (intermodal/serve.py, Hub.create).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = Hub.create(settings, store, applier, wake_address, relay_address)
        await running.start(dispatch=dispatch)
        app.state.hub = running
        try:
            yield
        finally:
            await running.stop()

    app = FastAPI(
        title="intermodal",
        version=__version__,
        summary="Integration hub for logistics companies that run Odoo.",
        lifespan=lifespan,
        # FastAPI's native telemetry reads the tracer provider on every request; tracing
        # will be wired explicitly (observe/), not per request by default.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served by api/docs.py from vendored assets, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits(settings.partners)  # per process: ingress/rate_limit
    install(app)
    openapi.install(app)  # every operation's error answers, deprecations described
    app.add_middleware(DeprecationHeaders)

    def hub() -> Hub:
        return cast(Hub, app.state.hub)

    app.include_router(odoo_capture_router(settings, hub))  # Odoo webhooks
    app.include_router(edi_intake_router(settings, hub))  # X12 / EDIFACT intake
    for module in (webhook, batch, shipments, positions, metrics, health, admin, landing, docs):
        app.include_router(module.router)
    app.include_router(document_intake.router)  # proofs of delivery and freight invoices
    app.include_router(documents.router)  # what was read from them
    if settings.tower is not None:  # the operator web UI; absent config = 404
        from intermodal.dashboard import tower_app
        from intermodal.dashboard.auth import TowerAuth

        # One TowerAuth for the tower and the API: a session is good for both (api/http.py).
        app.state.tower_auth = TowerAuth(settings.tower, lambda: hub().store)
        app.mount("/tower", tower_app(settings, hub, app.state.tower_auth))

    fast_path = webhook.IngressFastPath(
        app, partial(webhook.webhook_response, app.state), settings.hub.max_body_bytes
    )
    return AccessLog(PlainRequestTarget(fast_path))


__all__ = ["create_app"]
