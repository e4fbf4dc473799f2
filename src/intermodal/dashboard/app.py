"""The control tower: server-rendered pages over the hub's store, mounted at /tower/.

Pages are Jinja2 templates with autoescaping on (a partner's payload is shown as text,
never as markup) and a strict Content-Security-Policy (api/page_headers.py: scripts only
from our own static folder, i.e. the vendored htmx; no inline script, style or event
handler in any template). htmx makes links and forms swap the page body (`hx-boost`),
refreshes the overview and submits filters on change; every page and action also works
as a plain link or form without it.

Reads need a logged-in user; actions need the session's CSRF token and their least role
(replay, close: `operator`; ending others' sessions: `admin`; `web.page`, `web.action`).
Every action goes through the same functions as the CLI and the admin API
(outbox.dead_letters, mapping.quarantine) and is an audit entry naming the tower user.

This module only assembles the app: the pages are plain functions in `pages/`, one module
per part of the UI, reading what they need from `request.app.state.tower`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intermodal.api.page_headers import page_headers
from intermodal.config import Settings
from intermodal.dashboard import views
from intermodal.dashboard.auth import TowerAuth
from intermodal.dashboard.pages import (
    cases,
    dead_letters,
    login,
    overview,
    partners,
    pictures,
    quarantine,
    reconciliation,
    sessions,
    shipments,
)
from intermodal.dashboard.web import PREFIX, TowerState, error, tower
from intermodal.hub import Hub

_HERE = Path(__file__).parent

SECURITY_HEADERS = {
    **page_headers(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'"
    ),
    "cache-control": "no-store",  # pages show partners' data to a logged-in operator
}


class _SecurityHeaders:
    """Adds the tower's security headers to every response it sends, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _v in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty_json"] = _pretty_json
    env.filters["urlq"] = lambda value: quote(str(value), safe="")
    env.filters["command_label"] = views.command_label
    return env


def _pretty_json(value: Any) -> str:
    """Indented JSON for payload panes; text that is not JSON is shown as it is."""
    if isinstance(value, bytes | str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()[:200_000]


async def _not_found(request: Request, exc: Exception) -> Response:
    auth = tower(request).auth
    session = await auth.read(request)
    operator = auth.operator(session) if session is not None else None
    return error(request, 404, "no such page", operator, session)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return error(request, 405, "method not allowed")


def tower_app(settings: Settings, hub: Callable[[], Hub], auth: TowerAuth | None = None) -> ASGIApp:
    """The control tower as an ASGI app; `create_app` mounts it at /tower and passes the
    `auth` it shares with the API, which accepts tower sessions on reads."""
    assert settings.tower is not None
    routes: list[BaseRoute] = [
        *overview.routes,
        *login.routes,
        *shipments.routes,
        *dead_letters.routes,
        *quarantine.routes,
        *cases.routes,
        *reconciliation.routes,
        *partners.routes,
        *pictures.routes,
        *sessions.routes,
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    auth = auth if auth is not None else TowerAuth(settings.tower, lambda: hub().store)
    app.state.tower = TowerState(settings, hub, auth, _templates())
    return _SecurityHeaders(app)


__all__ = ["PREFIX", "tower_app"]
