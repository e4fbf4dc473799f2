"""Partner health: who is sending, how much, and what their events turned out to be."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import page, render, tower


async def partners_page(request: Request, operator: Operator, session: Session) -> Response:
    state = tower(request)
    health = await asyncio.to_thread(views.partner_health, state.hub().store, state.settings)
    return render(request, "partners.html", {"rows": health}, operator=operator, session=session)


routes = [Route("/partners", page(partners_page))]
