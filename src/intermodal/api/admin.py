"""The operator's API: dead letters listed, shown and replayed, behind the admin token.

Without `hub.admin_token` in the configuration the whole API answers 403, so a hub that
nobody set up for administration has nothing to guess a token for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field, StrictBool

from intermodal.api.errors import ApiError
from intermodal.api.http import bearer_token, hub_of, settings_of
from intermodal.outbox import dead_letters

router = APIRouter(tags=["admin"])

# Query parameters are checked against what the store holds before they reach SQL: a
# `seq` is a signed 64-bit integer and an endpoint name printable text of at most 64
# characters, so a larger number or a stray byte is a 422 naming it, not a 500.
_LAST_SEQ = 2**63 - 1
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class ReplayRequest(BaseModel):
    """Command ids and endpoint names as the store holds them: printable, bounded; anything
    else is a 422 naming the member, not a NUL that PostgreSQL cannot bind (a 500)."""

    ids: list[Annotated[str, Field(min_length=1, max_length=80, pattern=_PRINTABLE)]] | None = (
        Field(default=None, max_length=100_000)
    )
    all: StrictBool = False
    endpoint: Annotated[str, Field(max_length=64, pattern=_PRINTABLE)] | None = None


def require_admin(request: Request) -> str:
    """The actor an admin request is recorded under in the audit chain."""
    token = bearer_token(request.headers)
    admin = settings_of(request).admin_token
    if admin is None:
        raise ApiError(
            403, "forbidden", "admin API disabled: set hub.admin_token in the configuration"
        )
    if token is None or not admin.matches(token):
        raise ApiError(
            401,
            "unauthorized",
            "a valid admin token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return f"admin:{admin.fingerprint()}"


@router.get("/v1/admin/dead-letters", summary="List dead letters")
async def admin_list(
    request: Request,
    endpoint: Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    after: Annotated[int, Query(ge=0, le=_LAST_SEQ)] = 0,
) -> dict[str, Any]:
    require_admin(request)
    items, total = dead_letters.list_dead_letters(hub_of(request).store, endpoint, limit, after)
    return {"total": total, "items": items}


@router.get("/v1/admin/dead-letters/{command_id}", summary="One dead letter with its payload")
async def admin_show(command_id: str, request: Request) -> dict[str, Any]:
    require_admin(request)
    found = dead_letters.get_dead_letter(hub_of(request).store, command_id)
    if found is None:
        raise ApiError(404, "not_found", f"no dead letter '{command_id}'")
    return found


@router.post("/v1/admin/dead-letters/replay", summary="Replay dead letters by id, or all")
async def admin_replay(
    request: Request, payload: Annotated[ReplayRequest, Body()]
) -> dict[str, Any]:
    actor = require_admin(request)
    if not payload.all and not payload.ids:
        raise ApiError(422, "invalid", "give 'ids' or set 'all': true")
    count = await hub_of(request).replay_dead_letters(
        actor, payload.ids, payload.all, payload.endpoint
    )
    return {"replayed": count}
