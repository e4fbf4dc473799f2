"""The control tower: server-rendered pages over the hub's store, mounted at /tower/.

Pages are Jinja2 templates with autoescaping on (a partner's payload is shown as text,
never as markup) and a strict Content-Security-Policy (scripts only from our own static
folder, i.e. the vendored htmx). htmx makes links and forms swap the page body
(`hx-boost`), refreshes the overview and submits filters on change; every page and
action also works as a plain link or form without it.

Reads need a logged-in user; actions (replay, close) need the `operator` role and the
session's CSRF token. Every action goes through the same functions as the CLI and the
admin API (delivery.dead_letters, mapping.quarantine) and is an audit entry naming the
tower user.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intermodal import __version__
from intermodal.config import Settings
from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session, TowerAuth, csrf_ok, new_session
from intermodal.engine.ids import iso, utcnow
from intermodal.hub import Hub
from intermodal.mapping import quarantine
from intermodal.outbox import dead_letters
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.tables import cases
from intermodal.workflows.vocabulary import CASE_KINDS

log = logging.getLogger(__name__)

PREFIX = "/tower"
HTMX = "htmx-2.0.11.min.js"
_HERE = Path(__file__).parent
_MAX_FORM_BYTES = 1024 * 1024
_MAX_IDS = 1000
_POLL_CACHE_SECONDS = 5.0

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Page = Callable[[Request, Operator, Session], Awaitable[Response]]


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


def _int(value: str | None, default: int = 0, low: int = 0, high: int = 2**62) -> int:
    """A query-string number; anything else (text, huge, negative) falls back to `default`."""
    if value is None or not value.isdigit() or len(value) > 18:
        return default
    return min(max(int(value), low), high)


def _replay_choice(
    form: dict[str, list[str]], key: str, page: str
) -> tuple[str | None, list[str], bool, str]:
    """What a replay form asks for: the list's filter (`key`), the ticked ids, 'replay
    all', and the filtered list page to go back to."""
    chosen = _text(next(iter(form.get(key, [])), None), 64)
    ids = [i[:80] for i in form.get("ids", []) if i and "\x00" not in i][:_MAX_IDS]
    everything = next(iter(form.get("all", [])), "") == "1"
    back = f"{PREFIX}/{page}" + (f"?{urlencode({key: chosen})}" if chosen else "")
    return chosen, ids, everything, back


def _text(value: str | None, limit: int = 128) -> str | None:
    value = (value or "").replace("\x00", "").strip()
    return value[:limit] if value else None


def _has_nul(request: Request) -> bool:
    """PostgreSQL text cannot hold NUL, and no key or reference the hub stored has one: such
    input is answered with a 400 instead of reaching the database."""
    values = [*request.path_params.values(), *request.query_params.values()]
    return any("\x00" in str(v) for v in values)


def _safe_next(value: str | None) -> str:
    """Where to go after login: only a path inside the tower (no open redirect)."""
    if value and value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return PREFIX + "/"


def tower_app(settings: Settings, hub: Callable[[], Hub]) -> ASGIApp:
    """The control tower as an ASGI app; `create_app` mounts it at /tower."""
    assert settings.tower is not None
    auth = TowerAuth(settings.tower)
    env = _templates()
    # The overview polls itself every few seconds from every open tab; polls share one
    # reading of the store for a moment (a page someone opens is always read fresh).
    overview_cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def render(
        request: Request,
        template: str,
        context: dict[str, Any],
        status: int = 200,
        operator: Operator | None = None,
        session: Session | None = None,
    ) -> HTMLResponse:
        flash = session.flash if session is not None else None
        body = env.get_template(template).render(
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
        if session is not None and flash:
            auth.write(response, replace(session, flash=None))  # shown once
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

    def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """A read-only page: any logged-in user; others are sent to the login form."""

        async def endpoint(request: Request) -> Response:
            session = auth.read(request)
            operator = auth.operator(session) if session is not None else None
            if session is None or operator is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login_url = f"{PREFIX}/login?{urlencode({'next': target})}"
                if "hx-request" in request.headers:
                    # An htmx swap (the overview's refresh) would put the login form inside
                    # the page: have htmx load the login page as a whole instead.
                    return Response(status_code=401, headers={"HX-Redirect": login_url})
                return RedirectResponse(login_url, status_code=303)
            if _has_nul(request):
                return error(
                    request, 400, "a NUL character cannot match anything", operator, session
                )
            return await handler(request, operator, session)

        return endpoint

    def action(
        handler: Callable[..., Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A POST that changes something: logged in, CSRF token echoed, operator role."""

        async def endpoint(request: Request) -> Response:
            session = auth.read(request)
            operator = auth.operator(session) if session is not None else None
            if session is None or operator is None:
                return error(request, 401, "log in first")
            form = await _form(request)
            if form is None:
                return error(request, 413, "form too large", operator, session)
            if _has_nul(request):
                return error(
                    request, 400, "a NUL character cannot match anything", operator, session
                )
            if not csrf_ok(session, request, form):
                return error(
                    request,
                    403,
                    "the form's CSRF token is missing or wrong; reload the page",
                    operator,
                    session,
                )
            if not operator.may_act:
                return error(
                    request,
                    403,
                    f"{operator.name} is a viewer: replaying and closing need the operator role",
                    operator,
                    session,
                )
            return await handler(request, operator, session, form)

        return endpoint

    def done(target: str, session: Session, message: str) -> Response:
        response = RedirectResponse(target, status_code=303)
        auth.write(response, replace(session, flash=message))
        return response

    # -- login -------------------------------------------------------------------------
    async def login_form(request: Request) -> Response:
        session = auth.read(request) or new_session()
        if auth.operator(session) is not None:  # already logged in: keep the session
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        response = render(
            request,
            "login.html",
            {"next": _safe_next(request.query_params.get("next")), "failed": False},
            session=Session(None, session.csrf),
        )
        auth.write(response, Session(None, session.csrf))
        return response

    async def login(request: Request) -> Response:
        session = auth.read(request)
        form = await _form(request)
        if form is None:
            return error(request, 413, "form too large")
        if not csrf_ok(session, request, form):
            return error(request, 403, "the login form expired; reload the page and try again")
        assert session is not None
        name = next(iter(form.get("username", [])), "")[:64]
        credential = next(iter(form.get("password", [])), "")[:1024]
        user = auth.check_login(name, credential)
        target = _safe_next(next(iter(form.get("next", [])), None))
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
        session = auth.read(request)
        form = await _form(request) or {}
        if not csrf_ok(session, request, form):
            return error(request, 403, "the logout form expired; reload the page")
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        auth.clear(response)
        return response

    # -- pages -------------------------------------------------------------------------
    async def overview(request: Request, operator: Operator, session: Session) -> Response:
        dispatcher = hub().dispatcher
        breakers = {
            name: {"state": b.state, "failures": b.failures}
            for name, b in (dict(dispatcher.breakers) if dispatcher is not None else {}).items()
        }
        polled = request.headers.get("hx-trigger") == "overview"
        cached = overview_cache.get("data")
        if polled and cached is not None and time.monotonic() - cached[0] < _POLL_CACHE_SECONDS:
            data = cached[1]
        else:
            data = await asyncio.to_thread(views.overview, hub().store, settings, breakers)
            overview_cache["data"] = (time.monotonic(), data)
        return render(request, "overview.html", data, operator=operator, session=session)

    async def shipments_page(request: Request, operator: Operator, session: Session) -> Response:
        query = _text(request.query_params.get("q")) or ""
        found = await asyncio.to_thread(views.search, hub().store, query) if query else []
        if len(found) == 1 and found[0]["key"] == query and "HX-Request" not in request.headers:
            return RedirectResponse(f"{PREFIX}/shipments/{quote(query, safe='')}", 303)
        return render(
            request,
            "shipments.html",
            {"q": query, "found": found},
            operator=operator,
            session=session,
        )

    async def shipment_page(request: Request, operator: Operator, session: Session) -> Response:
        key = request.path_params["key"][:200]
        story = await asyncio.to_thread(views.shipment_story, hub().store, settings, key)
        if story is None:
            return error(request, 404, f"no shipment '{key}'", operator, session)
        events = await asyncio.to_thread(_event_data, key)
        return render(
            request,
            "shipment.html",
            {"s": story, "event_data": events},
            operator=operator,
            session=session,
        )

    def _event_data(key: str) -> dict[str, str]:
        from sqlalchemy import select

        from intermodal.store.tables import events

        with hub().store.read() as conn:
            rows = conn.execute(
                select(events.c.event_id, events.c.data)
                .where(events.c.subject == key)
                .order_by(events.c.seq)
                .limit(1000)
            ).all()
        return {r.event_id: r.data[:20_000] for r in rows}

    async def listing(
        request: Request,
        operator: Operator,
        session: Session,
        template: str,
        key: str,
        choices: list[str],
        lister: Callable[[Store, str | None, int, int], tuple[list[dict[str, Any]], int]],
    ) -> Response:
        """A page of dead letters or quarantined messages, filtered by `key` (endpoint or
        partner) and read after a seq; `lister(store, chosen, page, after)`."""
        chosen = _text(request.query_params.get(key), 64)
        after = _int(request.query_params.get("after"))
        items, total = await asyncio.to_thread(lister, hub().store, chosen, views.PAGE, after)
        return render(
            request,
            template,
            {
                "items": items,
                "total": total,
                key: chosen,
                f"{key}s": choices,
                "after": after,
                "next_after": items[-1]["seq"] if len(items) == views.PAGE else None,
            },
            operator=operator,
            session=session,
        )

    async def dead_letters_page(request: Request, operator: Operator, session: Session) -> Response:
        endpoints = sorted(settings.endpoints)
        return await listing(
            request, operator, session, "dead_letters.html", "endpoint", endpoints,
            dead_letters.list_dead_letters,
        )  # fmt: skip

    async def dead_letter_page(request: Request, operator: Operator, session: Session) -> Response:
        command_id = request.path_params["command_id"][:200]
        found = await asyncio.to_thread(dead_letters.get_dead_letter, hub().store, command_id)
        if found is None:
            return error(request, 404, f"no dead letter '{command_id}'", operator, session)
        return render(request, "dead_letter.html", {"d": found}, operator=operator, session=session)

    async def replay_dead_letters(
        request: Request, operator: Operator, session: Session, form: dict[str, list[str]]
    ) -> Response:
        endpoint, ids, everything, back = _replay_choice(form, "endpoint", "dead-letters")
        if not ids and not everything:
            return done(back, session, "nothing chosen: tick dead letters or use 'replay all'")
        actor = f"tower:{operator.name}"
        count = await hub().replay_dead_letters(actor, ids or None, everything, endpoint)
        return done(back, session, f"replayed {count} dead letter(s)")

    async def quarantine_page(request: Request, operator: Operator, session: Session) -> Response:
        partners = sorted(settings.partners)
        return await listing(
            request, operator, session, "quarantine.html", "partner", partners,
            quarantine.list_quarantined,
        )  # fmt: skip

    async def quarantined_page(request: Request, operator: Operator, session: Session) -> Response:
        receipt_id = request.path_params["receipt_id"][:80]
        found = await asyncio.to_thread(quarantine.get_quarantined, hub().store, receipt_id)
        if found is None:
            return error(request, 404, f"no quarantined message '{receipt_id}'", operator, session)
        return render(request, "quarantined.html", {"m": found}, operator=operator, session=session)

    async def replay_quarantine(
        request: Request, operator: Operator, session: Session, form: dict[str, list[str]]
    ) -> Response:
        partner, ids, everything, back = _replay_choice(form, "partner", "quarantine")
        if not ids and not everything:
            return done(back, session, "nothing chosen: tick messages or use 'replay all'")
        count = await asyncio.to_thread(
            quarantine.replay, hub().store, f"tower:{operator.name}", ids, everything, partner
        )
        hub().applier.wake.set()
        return done(back, session, f"replayed {count} quarantined message(s)")

    async def cases_page(request: Request, operator: Operator, session: Session) -> Response:
        params = request.query_params
        kind = _text(params.get("kind"), 32)
        status = _text(params.get("status"), 16) or "open"
        wanted = views.CaseFilter(
            kind=kind if kind in CASE_KINDS else None,
            team=_text(params.get("team"), 64),
            status=status if status in ("open", "closed") else None,
        )
        data = await asyncio.to_thread(views.list_cases, hub().store, wanted)
        return render(
            request,
            "cases.html",
            {**data, "wanted": wanted, "kinds": CASE_KINDS},
            operator=operator,
            session=session,
        )

    async def close_case(
        request: Request, operator: Operator, session: Session, form: dict[str, list[str]]
    ) -> Response:
        case_id = request.path_params["case_id"][:80]
        note = (next(iter(form.get("note", [])), "") or "")[:500]
        closed = await asyncio.to_thread(_close_case, case_id, f"tower:{operator.name}", note)
        back = _safe_next(next(iter(form.get("back", [])), None))
        if back == PREFIX + "/":
            back = f"{PREFIX}/cases"
        return done(back, session, f"closed case {case_id}" if closed else "that case is not open")

    def _close_case(case_id: str, actor: str, note: str) -> bool:
        store = hub().store
        with store.write() as conn:
            changed = conn.execute(
                update(cases)
                .where(cases.c.case_id == case_id, cases.c.status == "open")
                .values(status="closed", closed_at=iso(utcnow()))
            ).rowcount
            if changed:
                append(store, conn, [AuditEntry(actor, "cases.close", case_id, {"note": note})])
        return bool(changed)

    async def reconciliation_page(
        request: Request, operator: Operator, session: Session
    ) -> Response:
        runs = await asyncio.to_thread(views.reconciliation, hub().store)
        return render(
            request, "reconciliation.html", {"runs": runs}, operator=operator, session=session
        )

    async def reconciliation_run(
        request: Request, operator: Operator, session: Session
    ) -> Response:
        run_id = request.path_params["run_id"][:40]
        run = await asyncio.to_thread(views.reconciliation_run, hub().store, run_id)
        if run is None:
            return error(request, 404, f"no reconciliation run '{run_id}'", operator, session)
        return render(
            request, "reconciliation_run.html", {"run": run}, operator=operator, session=session
        )

    async def partners_page(request: Request, operator: Operator, session: Session) -> Response:
        rows = await asyncio.to_thread(views.partner_health, hub().store, settings)
        return render(request, "partners.html", {"rows": rows}, operator=operator, session=session)

    async def not_found(request: Request, exc: Exception) -> Response:
        session = auth.read(request)
        operator = auth.operator(session) if session is not None else None
        return error(request, 404, "no such page", operator, session)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return error(request, 405, "method not allowed")

    routes = [
        Route("/", page(overview)),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/shipments", page(shipments_page)),
        Route("/shipments/{key:path}", page(shipment_page)),
        Route("/dead-letters", page(dead_letters_page)),
        Route("/dead-letters/replay", action(replay_dead_letters), methods=["POST"]),
        Route("/dead-letters/{command_id}", page(dead_letter_page)),
        Route("/quarantine", page(quarantine_page)),
        Route("/quarantine/replay", action(replay_quarantine), methods=["POST"]),
        Route("/quarantine/{receipt_id}", page(quarantined_page)),
        Route("/cases", page(cases_page)),
        Route("/cases/{case_id}/close", action(close_case), methods=["POST"]),
        Route("/reconciliation", page(reconciliation_page)),
        Route("/reconciliation/{run_id}", page(reconciliation_run)),
        Route("/partners", page(partners_page)),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
    return _SecurityHeaders(app)


async def _form(request: Request) -> dict[str, list[str]] | None:
    """An urlencoded form, bounded; None when it is too large. Anything that is not an
    urlencoded form reads as an empty one (and so fails the CSRF check)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > _MAX_FORM_BYTES):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    text = b"".join(chunks).decode("utf-8", "replace")
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_IDS + 20)
    except ValueError:  # more fields than any of our forms has
        return None


__all__ = ["PREFIX", "tower_app"]
