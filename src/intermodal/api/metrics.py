"""Prometheus scrapes `/metrics`; rendering runs in a thread so a scrape of many series
never stalls the event loop that answers webhooks."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from intermodal.api.http import hub_of

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    body = await asyncio.to_thread(hub_of(request).metrics.render)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
