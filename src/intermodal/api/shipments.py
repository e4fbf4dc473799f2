"""Reads for partners and portals: a shipment's state, its timeline, and what became of a
message the hub received.

Every read is authenticated (`http.reader`): a partner token with the `shipments:read`
scope, the admin token, or a control-tower session. A partner reads only the shipments it
took part in and a customer portal only its customers' (engine/reads.py, `Boundary`);
everything else, like a key that does not exist, is a 404, so existence does not leak.
Receipts are the sender's own: a token with either scope reads its partner's messages.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from intermodal.api.errors import ApiError
from intermodal.api.http import Reader, hub_of, reader, settings_of
from intermodal.config import READ_SCOPE, WRITE_SCOPE
from intermodal.engine import reads
from intermodal.store import Store

router = APIRouter()

SHIPMENT_SCOPES = frozenset({READ_SCOPE})
RECEIPT_SCOPES = frozenset({READ_SCOPE, WRITE_SCOPE})
"""A sender follows up on its own messages with the token it sent them with."""

_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no credentials, or a bearer token nobody was given"},
    403: {"description": "a partner token without the scope this read needs"},
    404: {"description": "no such item, or one outside what this token may read"},
}


def boundary(request: Request, who: Reader) -> reads.Boundary | None:
    """The reader's boundary; None for the admin and operators, who read everything."""
    if who.partner is None:
        return None
    settings = settings_of(request)
    roles = settings.workflows.roles if settings.workflows is not None else None
    flow_endpoints = {roles.odoo, roles.tms, roles.notify, roles.customs} if roles else set()
    own = settings.endpoints.get(who.partner)
    subscription = own if own is not None and own.name not in flow_endpoints else None
    return reads.Boundary(who.partner, who.customers, subscription)


@router.get(
    "/v1/shipments/{key}",
    tags=["shipments"],
    summary="A shipment's current state",
    responses=_READ_ERRORS,
)
async def get_shipment(key: str, request: Request) -> dict[str, Any]:
    who = reader(request, SHIPMENT_SCOPES)
    store = hub_of(request).store
    found = reads.shipment(store, key, True, boundary(request, who))
    if found is None:
        raise ApiError(404, "not_found", f"no shipment '{key}'")
    found["eta"] = _eta(store, key)
    return found


def _eta(store: Store, key: str) -> dict[str, Any] | None:
    from intermodal.foresight.eta import eta_for

    with store.read() as conn:
        return eta_for(conn, key)


@router.get(
    "/v1/shipments/{key}/eta",
    tags=["shipments"],
    summary="A shipment's arrival times: next stop and delivery, with their intervals",
    responses=_READ_ERRORS,
)
async def get_eta(key: str, request: Request) -> dict[str, Any]:
    """The latest estimate of the ETA refresh (docs/visibility.md#arrival-times): `method`
    (model or baseline) and `reason`, the next stop's and the delivery's ETA with p10/p90,
    the model version, the position it rests on and its age; `eta: null` with no estimate
    (the shipment is delivered, or the refresh is off or has not run yet)."""
    who = reader(request, SHIPMENT_SCOPES)
    store = hub_of(request).store
    if reads.shipment(store, key, False, boundary(request, who)) is None:
        raise ApiError(404, "not_found", f"no shipment '{key}'")
    return {"key": key, "eta": _eta(store, key)}


@router.get(
    "/v1/shipments/{key}/timeline",
    tags=["shipments"],
    summary="Every event of a shipment, flagged",
    responses=_READ_ERRORS,
)
async def get_timeline(key: str, request: Request) -> list[dict[str, Any]]:
    who = reader(request, SHIPMENT_SCOPES)
    found = reads.timeline(hub_of(request).store, key, boundary(request, who))
    if found is None:
        raise ApiError(404, "not_found", f"no shipment '{key}'")
    return found


@router.get(
    "/v1/receipts/{receipt_id}",
    tags=["ingress"],
    summary="What became of a received message",
    responses=_READ_ERRORS,
)
async def get_receipt(receipt_id: str, request: Request) -> dict[str, Any]:
    who = reader(request, RECEIPT_SCOPES)
    found = reads.receipt(hub_of(request).store, receipt_id, who.partner)
    if found is None:
        raise ApiError(404, "not_found", f"no receipt '{receipt_id}'")
    return found
