"""Reconciliation runs (Odoo's invoices against the hub's deliveries and charges) and the
report of one run."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import error, page, render, tower


async def reconciliation_page(request: Request, operator: Operator, session: Session) -> Response:
    runs = await asyncio.to_thread(views.reconciliation, tower(request).hub().store)
    return render(
        request, "reconciliation.html", {"runs": runs}, operator=operator, session=session
    )


async def reconciliation_run(request: Request, operator: Operator, session: Session) -> Response:
    run_id = request.path_params["run_id"][:40]
    run = await asyncio.to_thread(views.reconciliation_run, tower(request).hub().store, run_id)
    if run is None:
        return error(request, 404, f"no reconciliation run '{run_id}'", operator, session)
    return render(
        request, "reconciliation_run.html", {"run": run}, operator=operator, session=session
    )


routes = [
    Route("/reconciliation", page(reconciliation_page)),
    Route("/reconciliation/{run_id}", page(reconciliation_run)),
]
