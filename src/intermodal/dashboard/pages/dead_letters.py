"""Commands an endpoint never took: the list, one letter, and replaying them."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.pages.listing import listing
from intermodal.dashboard.web import Form, action, done, error, page, render, replay_choice, tower
from intermodal.outbox import dead_letters


async def dead_letters_page(request: Request, operator: Operator, session: Session) -> Response:
    endpoints = sorted(tower(request).settings.endpoints)
    return await listing(
        request, operator, session, "dead_letters.html", "endpoint", endpoints,
        dead_letters.list_dead_letters,
    )  # fmt: skip


async def dead_letter_page(request: Request, operator: Operator, session: Session) -> Response:
    command_id = request.path_params["command_id"][:200]
    store = tower(request).hub().store
    found = await asyncio.to_thread(dead_letters.get_dead_letter, store, command_id)
    if found is None:
        return error(request, 404, f"no dead letter '{command_id}'", operator, session)
    return render(request, "dead_letter.html", {"d": found}, operator=operator, session=session)


async def replay_dead_letters(
    request: Request, operator: Operator, session: Session, form: Form
) -> Response:
    endpoint, ids, everything, back = replay_choice(form, "endpoint", "dead-letters")
    if not ids and not everything:
        return done(request, back, session, "nothing chosen: tick dead letters or use 'replay all'")
    actor = f"tower:{operator.name}"
    hub = tower(request).hub()
    count = await hub.replay_dead_letters(actor, ids or None, everything, endpoint)
    return done(request, back, session, f"replayed {count} dead letter(s)")


routes = [
    Route("/dead-letters", page(dead_letters_page)),
    Route("/dead-letters/replay", action(replay_dead_letters), methods=["POST"]),
    Route("/dead-letters/{command_id}", page(dead_letter_page)),
]
