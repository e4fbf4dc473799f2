"""Pictures: the live map of active shipments and the charts of traffic, backlogs and cases.

The map is SVG drawn on the server (no tiles, no script: it works offline and without
JavaScript) and refreshes itself through htmx. The charts are drawn in the browser by the
vendored uPlot from `/tower/charts/data`, a JSON read of the same store.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.dashboard import pictures
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import page, render, tower

MAP_REFRESH_SECONDS = 10


async def map_page(request: Request, operator: Operator, session: Session) -> Response:
    data = await asyncio.to_thread(pictures.map_view, tower(request).hub().store)
    return render(
        request,
        "map.html",
        {**data, "refresh": MAP_REFRESH_SECONDS},
        operator=operator,
        session=session,
    )


async def charts_page(request: Request, operator: Operator, session: Session) -> Response:
    window = request.query_params.get("window", "1h")
    if window not in pictures.WINDOWS:
        window = "1h"
    return render(
        request,
        "charts.html",
        {"window": window, "windows": list(pictures.WINDOWS)},
        operator=operator,
        session=session,
    )


async def chart_data(request: Request, operator: Operator, session: Session) -> Response:
    window = request.query_params.get("window", "1h")
    if window not in pictures.WINDOWS:
        return JSONResponse(
            {"error": f"unknown window (known: {', '.join(pictures.WINDOWS)})"},
            status_code=400,
        )
    data = await asyncio.to_thread(pictures.chart_series, tower(request).hub().store, window)
    return JSONResponse(data)


routes = [
    Route("/map", page(map_page)),
    Route("/charts", page(charts_page)),
    Route("/charts/data", page(chart_data)),
]
