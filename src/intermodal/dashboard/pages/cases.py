"""Exception cases by kind, team and status, and closing one (an audit entry naming the
tower user)."""

from __future__ import annotations

import asyncio
from typing import Any

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
from intermodal.foresight.classify import suggestions
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
    store = tower(request).hub().store
    data = await asyncio.to_thread(views.list_cases, store, wanted)
    await asyncio.to_thread(_with_suggestions, store, data["items"])
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
    final_kind = first(form, "final_kind")[:40] or None
    back = safe_next(first(form, "back") or None)
    if back == PREFIX + "/":
        back = f"{PREFIX}/cases"
    if final_kind is not None and final_kind not in CASE_KINDS:
        message = f"not closed: the final kind must be one of {', '.join(CASE_KINDS)}"
        return done(request, back, session, message)
    store = tower(request).hub().store
    actor = f"tower:{operator.name}"
    closed = await asyncio.to_thread(_close, store, case_id, actor, note, final_kind)
    message = f"closed case {case_id}" if closed else "that case is not open"
    return done(request, back, session, message)


def _close(
    store: Store, case_id: str, actor: str, note: str, final_kind: str | None = None
) -> bool:
    """Close an open case; False when it is not open (closed meanwhile, or unknown).

    `final_kind` is what the person closing it says it was: the exception classifier
    learns from it (foresight/classify.py), most of all where it differs from the kind."""
    with store.write() as conn:
        changed = conn.execute(
            update(cases)
            .where(cases.c.case_id == case_id, cases.c.status == "open")
            .values(status="closed", closed_at=iso(utcnow()), final_kind=final_kind)
        ).rowcount
        if changed:
            detail = {"note": note, **({"final_kind": final_kind} if final_kind else {})}
            append(store, conn, [AuditEntry(actor, "cases.close", case_id, detail)])
    return bool(changed)


def _with_suggestions(store: Store, items: list[dict[str, Any]]) -> None:
    """The exception classifier's suggestion on each case that has one."""
    if not items:
        return
    with store.read() as conn:
        found = suggestions(conn, [c["case_id"] for c in items])
    for item in items:
        item["suggestion"] = found.get(item["case_id"])


routes = [
    Route("/cases", page(cases_page)),
    Route("/cases/{case_id}/close", action(close_case), methods=["POST"]),
]
