"""Is the hub up, and can it do its work: what load balancers and orchestrators poll."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from intermodal.api.http import hub_of

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store answers and every worker runs")
async def readyz(request: Request) -> Response:
    hub = hub_of(request)
    workers = hub.alive()
    try:
        with hub.store.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        store_ok = True
    except Exception:  # any failure of the store means "not ready", never a 500
        store_ok = False
    ready = store_ok and all(workers.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "store": store_ok, "workers": workers},
        status_code=200 if ready else 503,
    )
