"""Reads for partners and portals: a shipment's state, its timeline, and what became of a
message the hub received.

Parties (names, addresses) are personal data: a shipment is shown in full only to a token
with the read scope or the admin token; anyone who knows the key sees its progress.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from intermodal.api.errors import ApiError
from intermodal.api.http import bearer_token, hub_of, settings_of
from intermodal.config import READ_SCOPE, token_hash
from intermodal.engine import reads

router = APIRouter()


def _may_read_all(request: Request) -> bool:
    token = bearer_token(request.headers)
    if token is None:
        return False
    settings = settings_of(request)
    entry = settings.tokens.get(token_hash(token))
    if entry is not None and READ_SCOPE in entry[1]:
        return True
    return settings.admin_token is not None and settings.admin_token.matches(token)


@router.get("/v1/shipments/{key}", tags=["shipments"], summary="A shipment's current state")
async def get_shipment(key: str, request: Request) -> dict[str, Any]:
    found = reads.shipment(hub_of(request).store, key, full=_may_read_all(request))
    if found is None:
        raise ApiError(404, "not_found", f"no shipment '{key}'")
    return found


@router.get(
    "/v1/shipments/{key}/timeline",
    tags=["shipments"],
    summary="Every event of a shipment, flagged",
)
async def get_timeline(key: str, request: Request) -> list[dict[str, Any]]:
    found = reads.timeline(hub_of(request).store, key)
    if found is None:
        raise ApiError(404, "not_found", f"no shipment '{key}'")
    return found


@router.get(
    "/v1/receipts/{receipt_id}", tags=["ingress"], summary="What became of a received message"
)
async def get_receipt(receipt_id: str, request: Request) -> dict[str, Any]:
    found = reads.receipt(hub_of(request).store, receipt_id)
    if found is None:
        raise ApiError(404, "not_found", f"no receipt '{receipt_id}'")
    return found
