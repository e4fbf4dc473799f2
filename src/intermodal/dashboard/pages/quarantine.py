"""Messages a mapping could not read: the list, one message, and replaying them once the
mapping is fixed."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.pages.listing import listing
from intermodal.dashboard.web import Form, action, done, error, page, render, replay_choice, tower
from intermodal.mapping import quarantine


async def quarantine_page(request: Request, operator: Operator, session: Session) -> Response:
    partners = sorted(tower(request).settings.partners)
    return await listing(
        request, operator, session, "quarantine.html", "partner", partners,
        quarantine.list_quarantined,
    )  # fmt: skip


async def quarantined_page(request: Request, operator: Operator, session: Session) -> Response:
    receipt_id = request.path_params["receipt_id"][:80]
    store = tower(request).hub().store
    found = await asyncio.to_thread(quarantine.get_quarantined, store, receipt_id)
    if found is None:
        return error(request, 404, f"no quarantined message '{receipt_id}'", operator, session)
    return render(request, "quarantined.html", {"m": found}, operator=operator, session=session)


async def replay_quarantine(
    request: Request, operator: Operator, session: Session, form: Form
) -> Response:
    partner, ids, everything, back = replay_choice(form, "partner", "quarantine")
    if not ids and not everything:
        return done(request, back, session, "nothing chosen: tick messages or use 'replay all'")
    hub = tower(request).hub()
    count = await asyncio.to_thread(
        quarantine.replay, hub.store, f"tower:{operator.name}", ids, everything, partner
    )
    hub.applier.wake.set()
    return done(request, back, session, f"replayed {count} quarantined message(s)")


routes = [
    Route("/quarantine", page(quarantine_page)),
    Route("/quarantine/replay", action(replay_quarantine), methods=["POST"]),
    Route("/quarantine/{receipt_id}", page(quarantined_page)),
]
