"""The landing page: flows in and out, backlogs, dead letters, open cases; it refreshes
itself through htmx."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import page, render, tower

POLL_CACHE_SECONDS = 5.0


async def overview(request: Request, operator: Operator, session: Session) -> Response:
    state = tower(request)
    dispatcher = state.hub().dispatcher
    breakers = {
        name: {"state": b.state, "failures": b.failures}
        for name, b in (dict(dispatcher.breakers) if dispatcher is not None else {}).items()
    }
    polled = request.headers.get("hx-trigger") == "overview"
    data = state.cached_overview(POLL_CACHE_SECONDS) if polled else None
    if data is None:
        data = await asyncio.to_thread(views.overview, state.hub().store, state.settings, breakers)
        state.keep_overview(data)
    return render(request, "overview.html", data, operator=operator, session=session)


routes = [Route("/", page(overview))]
