"""Logging in and out: the only routes that work without a session."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from intermodal.dashboard.auth import Session, csrf_ok, new_session
from intermodal.dashboard.web import PREFIX, error, first, read_form, render, safe_next, tower

log = logging.getLogger(__name__)


async def login_form(request: Request) -> Response:
    auth = tower(request).auth
    session = auth.read(request) or new_session()
    if auth.operator(session) is not None:  # already logged in: keep the session
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    response = render(
        request,
        "login.html",
        {"next": safe_next(request.query_params.get("next")), "failed": False},
        session=Session(None, session.csrf),
    )
    auth.write(response, Session(None, session.csrf))
    return response


async def login(request: Request) -> Response:
    auth = tower(request).auth
    session = auth.read(request)
    form = await read_form(request)
    if form is None:
        return error(request, 413, "form too large")
    if not csrf_ok(session, request, form):
        return error(request, 403, "the login form expired; reload the page and try again")
    assert session is not None
    name = first(form, "username")[:64]
    credential = first(form, "password")[:1024]
    user = auth.check_login(name, credential)
    target = safe_next(first(form, "next") or None)
    if user is None:
        # The name is logged (it is what an operator investigates), the password never.
        log.warning("control tower: failed login for %r", name[:64])
        await asyncio.sleep(0.2)  # slows guessing without telling which part was wrong
        return render(
            request,
            "login.html",
            {"next": target, "failed": True, "username": name},
            status=401,
            session=session,
        )
    log.info("control tower: %s logged in (%s)", user.name, user.role)
    redirect = RedirectResponse(target, status_code=303)
    auth.write(redirect, auth.login(user))
    return redirect


async def logout(request: Request) -> Response:
    auth = tower(request).auth
    session = auth.read(request)
    form = await read_form(request) or {}
    if not csrf_ok(session, request, form):
        return error(request, 403, "the logout form expired; reload the page")
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    auth.clear(response)
    return response


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
