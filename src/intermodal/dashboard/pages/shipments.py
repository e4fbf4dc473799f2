"""Finding a shipment (by key, reference or tracking number) and its story across systems."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import PREFIX, error, page, render, text, tower


async def shipments_page(request: Request, operator: Operator, session: Session) -> Response:
    query = text(request.query_params.get("q")) or ""
    store = tower(request).hub().store
    found = await asyncio.to_thread(views.search, store, query) if query else []
    if len(found) == 1 and found[0]["key"] == query and "HX-Request" not in request.headers:
        return RedirectResponse(f"{PREFIX}/shipments/{quote(query, safe='')}", 303)
    return render(
        request, "shipments.html", {"q": query, "found": found}, operator=operator, session=session
    )


async def shipment_page(request: Request, operator: Operator, session: Session) -> Response:
    state = tower(request)
    key = request.path_params["key"][:200]
    store = state.hub().store
    story = await asyncio.to_thread(views.shipment_story, store, state.settings, key)
    if story is None:
        return error(request, 404, f"no shipment '{key}'", operator, session)
    events = await asyncio.to_thread(views.event_data, store, key)
    return render(
        request,
        "shipment.html",
        {"s": story, "event_data": events},
        operator=operator,
        session=session,
    )


routes = [
    Route("/shipments", page(shipments_page)),
    Route("/shipments/{key:path}", page(shipment_page)),
]
