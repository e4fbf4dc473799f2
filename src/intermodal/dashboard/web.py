"""What every tower page shares: the state on `request.app.state`, rendering, the two
guards (a page needs a login; an action also needs the CSRF token and the least role it
names),
and bounded reading of query strings and forms.

Route modules under `pages/` are plain Starlette endpoints: they read the hub, the
settings and the templates from `request.app.state.tower` (a `TowerState`, put there by
`tower_app`) instead of closing over them, so each page can be read, and tested, alone.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from intermodal import __version__
from intermodal.config import Settings
from intermodal.dashboard.auth import Operator, Role, Session, TowerAuth, csrf_ok
from intermodal.hub import Hub

PREFIX = "/tower"
HTMX = "htmx-2.0.11.min.js"
MAX_FORM_BYTES = 1024 * 1024
MAX_IDS = 1000

Form = dict[str, list[str]]
Page = Callable[[Request, Operator, Session], Awaitable[Response]]
Action = Callable[[Request, Operator, Session, Form], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class TowerState:
    """What the pages need, built once by `tower_app`. `hub` is a getter because the hub
    is started by the outer app's lifespan, after the tower is mounted."""

    settings: Settings
    hub: Callable[[], Hub]
    auth: TowerAuth
    templates: Environment
    overview_cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    """The overview polls itself every few seconds from every open tab; polls share one
    reading of the store for a moment (a page someone opens is always read fresh)."""

    def cached_overview(self, max_age: float) -> dict[str, Any] | None:
        cached = self.overview_cache.get("data")
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        return None

    def keep_overview(self, data: dict[str, Any]) -> None:
        self.overview_cache["data"] = (time.monotonic(), data)


def tower(request: Request) -> TowerState:
    state: TowerState = request.app.state.tower
    return state


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    operator: Operator | None = None,
    session: Session | None = None,
) -> HTMLResponse:
    state = tower(request)
    flash = session.flash if session is not None else None
    body = state.templates.get_template(template).render(
        **context,
        prefix=PREFIX,
        htmx=HTMX,
        version=__version__,
        operator=operator,
        csrf=session.csrf if session is not None else "",
        flash=flash,
        path=request.url.path,
    )
    response = HTMLResponse(body, status_code=status)
    if flash:
        state.auth.clear_flash(response)  # shown once
    return response


def error(
    request: Request,
    status: int,
    message: str,
    operator: Operator | None = None,
    session: Session | None = None,
) -> HTMLResponse:
    return render(
        request, "error.html", {"status": status, "message": message}, status, operator, session
    )


def done(request: Request, target: str, session: Session, message: str) -> Response:
    """After an action: back to `target`, with `message` shown once there."""
    response = RedirectResponse(target, status_code=303)
    tower(request).auth.set_flash(response, message)
    return response


def page(handler: Page) -> Endpoint:
    """A read-only page: any logged-in user; others are sent to the login form."""

    async def endpoint(request: Request) -> Response:
        auth = tower(request).auth
        session = await auth.read(request)
        operator = auth.operator(session) if session is not None else None
        if session is None or operator is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            login_url = f"{PREFIX}/login?{urlencode({'next': target})}"
            if "hx-request" in request.headers:
                # An htmx swap (the overview's refresh) would put the login form inside
                # the page: have htmx load the login page as a whole instead.
                return Response(status_code=401, headers={"HX-Redirect": login_url})
            return RedirectResponse(login_url, status_code=303)
        if has_nul(request):
            return error(request, 400, "a NUL character cannot match anything", operator, session)
        return await handler(request, operator, session)

    return endpoint


def action(handler: Action, needs: Role = "operator") -> Endpoint:
    """A POST that changes something: logged in, CSRF token echoed, and the role `needs`
    (replaying and closing: operator; ending others' sessions: admin)."""

    async def endpoint(request: Request) -> Response:
        auth = tower(request).auth
        session = await auth.read(request)
        operator = auth.operator(session) if session is not None else None
        if session is None or operator is None:
            return error(request, 401, "log in first")
        form = await read_form(request)
        if form is None:
            return error(request, 413, "form too large", operator, session)
        if has_nul(request):
            return error(request, 400, "a NUL character cannot match anything", operator, session)
        if not csrf_ok(session, request, form):
            return error(
                request,
                403,
                "the form's CSRF token is missing or wrong; reload the page",
                operator,
                session,
            )
        if not operator.may(needs):
            return error(request, 403, _refusal(operator, needs), operator, session)
        return await handler(request, operator, session, form)

    return endpoint


def _refusal(operator: Operator, needs: Role) -> str:
    if needs == "operator":
        return f"{operator.name} is a viewer: replaying and closing need the operator role"
    return f"{operator.name} is {operator.role}: this needs the {needs} role"


def query_int(value: str | None, default: int = 0, low: int = 0, high: int = 2**62) -> int:
    """A query-string number; anything else (text, huge, negative) falls back to `default`."""
    if value is None or not value.isdigit() or len(value) > 18:
        return default
    return min(max(int(value), low), high)


def text(value: str | None, limit: int = 128) -> str | None:
    """User input as a bounded, NUL-free string; None when blank."""
    value = (value or "").replace("\x00", "").strip()
    return value[:limit] if value else None


def first(form: Form, name: str) -> str:
    return next(iter(form.get(name, [])), "")


def has_nul(request: Request) -> bool:
    """PostgreSQL text cannot hold NUL, and no key or reference the hub stored has one: such
    input is answered with a 400 instead of reaching the database."""
    values = [*request.path_params.values(), *request.query_params.values()]
    return any("\x00" in str(v) for v in values)


def safe_next(value: str | None) -> str:
    """Where to go after login: only a path inside the tower (no open redirect)."""
    if value and value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return PREFIX + "/"


def replay_choice(form: Form, key: str, page: str) -> tuple[str | None, list[str], bool, str]:
    """What a replay form asks for: the list's filter (`key`), the ticked ids, 'replay
    all', and the filtered list page to go back to."""
    chosen = text(next(iter(form.get(key, [])), None), 64)
    ids = [i[:80] for i in form.get("ids", []) if i and "\x00" not in i][:MAX_IDS]
    everything = first(form, "all") == "1"
    back = f"{PREFIX}/{page}" + (f"?{urlencode({key: chosen})}" if chosen else "")
    return chosen, ids, everything, back


async def read_form(request: Request) -> Form | None:
    """An urlencoded form, bounded; None when it is too large. Anything that is not an
    urlencoded form reads as an empty one (and so fails the CSRF check)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    body = b"".join(chunks).decode("utf-8", "replace")
    try:
        return parse_qs(body, keep_blank_values=True, max_num_fields=MAX_IDS + 20)
    except ValueError:  # more fields than any of our forms has
        return None
