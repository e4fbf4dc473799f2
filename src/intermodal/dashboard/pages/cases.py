"""Exception cases by kind, team and status, and closing one (an audit entry naming the
tower user)."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import (
    PREFIX,
    Form,
    action,
    done,
    first,
    page,
    render,
    safe_next,
    text,
    tower,
)
from intermodal.engine.ids import iso, utcnow
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.tables import cases
from intermodal.workflows.vocabulary import CASE_KINDS


async def cases_page(request: Request, operator: Operator, session: Session) -> Response:
    params = request.query_params
    kind = text(params.get("kind"), 32)
    status = text(params.get("status"), 16) or "open"
    wanted = views.CaseFilter(
        kind=kind if kind in CASE_KINDS else None,
        team=text(params.get("team"), 64),
        status=status if status in ("open", "closed") else None,
    )
    data = await asyncio.to_thread(views.list_cases, tower(request).hub().store, wanted)
    return render(
        request,
        "cases.html",
        {**data, "wanted": wanted, "kinds": CASE_KINDS},
        operator=operator,
        session=session,
    )


async def close_case(
    request: Request, operator: Operator, session: Session, form: Form
) -> Response:
    case_id = request.path_params["case_id"][:80]
    note = first(form, "note")[:500]
    store = tower(request).hub().store
    closed = await asyncio.to_thread(_close, store, case_id, f"tower:{operator.name}", note)
    back = safe_next(first(form, "back") or None)
    if back == PREFIX + "/":
        back = f"{PREFIX}/cases"
    message = f"closed case {case_id}" if closed else "that case is not open"
    return done(request, back, session, message)


def _close(store: Store, case_id: str, actor: str, note: str) -> bool:
    """Close an open case; False when it is not open (closed meanwhile, or unknown)."""
    with store.write() as conn:
        changed = conn.execute(
            update(cases)
            .where(cases.c.case_id == case_id, cases.c.status == "open")
            .values(status="closed", closed_at=iso(utcnow()))
        ).rowcount
        if changed:
            append(store, conn, [AuditEntry(actor, "cases.close", case_id, {"note": note})])
    return bool(changed)


routes = [
    Route("/cases", page(cases_page)),
    Route("/cases/{case_id}/close", action(close_case), methods=["POST"]),
]
