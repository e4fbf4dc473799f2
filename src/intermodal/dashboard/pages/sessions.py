"""Where a user is logged in, and ending those sessions: "log out everywhere" for
oneself (a lost laptop, a shared machine), and for an admin, any user's sessions."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import PREFIX, Form, action, done, first, page, render, tower

log = logging.getLogger(__name__)


async def sessions_page(request: Request, operator: Operator, session: Session) -> Response:
    auth = tower(request).auth
    mine = await asyncio.to_thread(auth.sessions, operator.name)
    everyone = await asyncio.to_thread(auth.count_sessions) if operator.may("admin") else None
    return render(
        request,
        "sessions.html",
        {"mine": mine, "current": session.key, "everyone": everyone},
        operator=operator,
        session=session,
    )


async def end_mine(request: Request, operator: Operator, session: Session, form: Form) -> Response:
    """Log out everywhere: every session of this user ends, this one included."""
    auth = tower(request).auth
    ended = await auth.end_all(operator.name, f"tower:{operator.name}")
    log.info("control tower: %s logged out everywhere (%d sessions)", operator.name, ended)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    auth.end_cookie(response)
    auth.set_flash(response, f"logged out everywhere: {ended} session(s) ended")
    return response


async def end_user(request: Request, operator: Operator, session: Session, form: Form) -> Response:
    """An admin ends every session of another user (or their own)."""
    user = first(form, "user")[:256]
    if not user:
        return done(request, f"{PREFIX}/sessions", session, "no user chosen")
    auth = tower(request).auth
    ended = await auth.end_all(user, f"tower:{operator.name}")
    log.info("control tower: %s ended %d session(s) of another user", operator.name, ended)
    if user == operator.name:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        auth.end_cookie(response)
        return response
    return done(request, f"{PREFIX}/sessions", session, f"ended {ended} session(s) of {user}")


routes = [
    Route("/sessions", page(sessions_page)),
    Route("/sessions/end-mine", action(end_mine, needs="viewer"), methods=["POST"]),
    Route("/sessions/end", action(end_user, needs="admin"), methods=["POST"]),
]
