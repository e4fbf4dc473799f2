"""Prometheus scrapes `/metrics`; rendering runs in a thread so a scrape of many series
never stalls the event loop that answers webhooks.

The series name partners, endpoints and backlogs, so a scrape is a read like any other:
the admin token or a control-tower session, unless `hub.metrics_public` says the port is
only reachable by the scraper. A partner token does not read them: they are the hub's,
not one partner's.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from intermodal.api.http import hub_of, reader, settings_of

router = APIRouter(tags=["health"])

ADMIN_ONLY: frozenset[str] = frozenset()
"""No partner scope reads metrics: they are the hub's, not one partner's."""


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin token or tower session unless hub.metrics_public)",
    response_class=Response,
    responses={
        401: {"description": "no credentials, or a wrong bearer token"},
        403: {"description": "a partner token: metrics are not a partner's to read"},
    },
)
async def metrics(request: Request) -> Response:
    if not settings_of(request).hub.metrics_public:
        reader(request, ADMIN_ONLY)
    body = await asyncio.to_thread(hub_of(request).metrics.render)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
