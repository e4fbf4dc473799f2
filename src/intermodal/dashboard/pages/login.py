"""Logging in and out: the only routes that work without a session.

A password login goes through the lockout (`TowerAuth.check_login`): wrong password,
unknown user and locked out all get the same answer, and the log names a configured user
or "an unknown user", never what was typed. Logging out deletes the session's row, so
the cookie, replayed, no longer works.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from intermodal.dashboard.auth import Session, client_address, csrf_ok, new_session
from intermodal.dashboard.oidc import NoTowerRole, OidcRefused
from intermodal.dashboard.web import PREFIX, error, first, read_form, render, safe_next, tower

log = logging.getLogger(__name__)


async def login_form(request: Request) -> Response:
    auth = tower(request).auth
    session = await auth.read(request)
    if session is not None and auth.operator(session) is not None:
        # already logged in: keep the session
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    if session is not None and session.user is None:
        before = session
    else:  # a first visit, or a session that has ended (its flash may say why)
        before = replace(new_session(), flash=auth.flash_of(request))
    response = login_page(request, before, safe_next(request.query_params.get("next")))
    auth.write_prelogin(response, before)
    return response


def login_page(
    request: Request, session: Session, target: str, failed: str | None = None, name: str = ""
) -> Response:
    oidc = tower(request).auth.settings.oidc
    return render(
        request,
        "login.html",
        {
            "next": target,
            "failed": failed,
            "username": name,
            "passwords": bool(tower(request).auth.settings.users),
            "oidc_label": oidc.config.label if oidc is not None else None,
        },
        status=401 if failed else 200,
        session=session,
    )


async def login(request: Request) -> Response:
    auth = tower(request).auth
    session = await auth.read(request)
    form = await read_form(request)
    if form is None:
        return error(request, 413, "form too large")
    if not csrf_ok(session, request, form):
        return error(request, 403, "the login form expired; reload the page and try again")
    assert session is not None
    name = first(form, "username")[:64]
    password = first(form, "password")[:1024]
    target = safe_next(first(form, "next") or None)
    user = await auth.check_login(name, password, client_address(request))
    if user is None:
        return login_page(request, session, target, "Unknown user or wrong password.", name)
    if session.user is not None:  # logging in again over a live session: that one ends
        await auth.end(session)
    log.info("control tower: %s logged in (%s)", user.name, user.role)
    redirect = RedirectResponse(target, status_code=303)
    await auth.start(redirect, user.name, user.role, "password", user.credential)
    return redirect


async def logout(request: Request) -> Response:
    auth = tower(request).auth
    session = await auth.read(request)
    form = await read_form(request) or {}
    if not csrf_ok(session, request, form):
        return error(request, 403, "the logout form expired; reload the page")
    assert session is not None
    if session.user is not None:
        await auth.end(session)
        who = session.user if session.source == "password" else "a company-login user"
        log.info("control tower: %s logged out", who)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    auth.end_cookie(response)
    return response


async def oidc_begin(request: Request) -> Response:
    """Off to the identity provider, the pending login kept in the browser's signed
    pre-login cookie (state, nonce, PKCE verifier)."""
    auth = tower(request).auth
    if auth.oidc is None:
        return error(request, 404, "no such page")
    session = await auth.read(request)
    target = safe_next(request.query_params.get("next"))
    if session is not None and auth.operator(session) is not None:
        return RedirectResponse(target, 303)
    before = session if session is not None and session.user is None else new_session()
    try:
        url, pending = await auth.oidc.begin(_callback_url(request), target)
    except OidcRefused as exc:
        log.warning("control tower: company login unavailable: %s", exc)
        return login_page(request, before, target, "The company login is unavailable; try later.")
    response = RedirectResponse(url, status_code=303)
    auth.write_prelogin(response, replace(before, oidc=pending))
    return response


async def oidc_callback(request: Request) -> Response:
    """Back from the identity provider: the state, the code (redeemed with the PKCE
    verifier) and the ID token (signature, issuer, audience, expiry, nonce) are checked
    before a session starts, with the role the user's groups map to."""
    auth = tower(request).auth
    if auth.oidc is None:
        return error(request, 404, "no such page")
    session = await auth.read(request)
    before = session if session is not None and session.user is None else new_session()
    pending = before.oidc
    done = replace(before, oidc=None)  # a pending login is used once, whatever comes of it
    try:
        user = await auth.oidc.finish(request.query_params, pending)
    except OidcRefused as exc:
        log.warning("control tower: company login refused: %s", exc)
        said = (
            "Your company account has no role in the control tower."
            if isinstance(exc, NoTowerRole)
            else "The company login did not complete; try again."
        )
        response = login_page(request, done, PREFIX + "/", said)
        auth.write_prelogin(response, done)
        return response
    assert pending is not None
    target = safe_next(str(pending.get("next", "")))
    log.info("control tower: company login for subject %r (%s)", user.subject, user.role)
    # A page, not a redirect: the provider's redirect made this a cross-site navigation,
    # and the browser would not send the new SameSite=Strict cookie on a redirect that
    # continues it. A navigation from this page is our own site's.
    response = render(request, "login_continue.html", {"next": target})
    await auth.start(response, user.name, user.role, "oidc")
    return response


def _callback_url(request: Request) -> str:
    oidc = tower(request).auth.settings.oidc
    if oidc is not None and oidc.config.redirect_url:
        return oidc.config.redirect_url
    return str(request.url.replace(path=f"{PREFIX}/login/oidc/callback", query=""))


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/login/oidc", oidc_begin, methods=["GET"]),
    Route("/login/oidc/callback", oidc_callback, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
]
