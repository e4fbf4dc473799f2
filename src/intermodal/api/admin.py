"""The operator's API: dead letters listed, shown and replayed, behind the admin token.

Without `hub.admin_token` in the configuration the whole API answers 403, so a hub that
nobody set up for administration has nothing to guess a token for. The token is checked
before anything else of the request (a router dependency, and the replay body is read
only after it), so an unauthenticated caller learns nothing from validation errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, StrictBool, ValidationError

from intermodal.api.errors import ApiError
from intermodal.api.http import bearer_token, hub_of, read_body, settings_of, unauthorized
from intermodal.outbox import dead_letters

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


async def require_admin(request: Request) -> str:
    """The actor an admin request is recorded under in the audit chain."""
    token = bearer_token(request.headers)
    admin = settings_of(request).admin_token
    if admin is None:
        raise ApiError(
            403, "forbidden", "admin API disabled: set hub.admin_token in the configuration"
        )
    if token is None or not admin.matches(token):
        hub_of(request).tokens.failed("admin", "missing" if token is None else "unknown")
        raise unauthorized("a valid admin token is required")
    return f"admin:{admin.fingerprint()}"


router = APIRouter(
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={
        401: {"description": "no admin token, or a wrong one"},
        403: {"description": "the admin API is disabled (no hub.admin_token)"},
    },
)


@router.get("/v1/admin/dead-letters", summary="List dead letters")
async def admin_list(
    request: Request,
    endpoint: Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    after: Annotated[int, Query(ge=0, le=_LAST_SEQ)] = 0,
) -> dict[str, Any]:
    items, total = dead_letters.list_dead_letters(hub_of(request).store, endpoint, limit, after)
    return {"total": total, "items": items}


@router.get("/v1/admin/dead-letters/{command_id}", summary="One dead letter with its payload")
async def admin_show(command_id: str, request: Request) -> dict[str, Any]:
    found = dead_letters.get_dead_letter(hub_of(request).store, command_id)
    if found is None:
        raise ApiError(404, "not_found", f"no dead letter '{command_id}'")
    return found


@router.post(
    "/v1/admin/dead-letters/replay",
    summary="Replay dead letters by id, or all",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ReplayRequest.model_json_schema()}},
        }
    },
    responses={422: {"description": "the body is not a valid replay request"}},
)
async def admin_replay(
    request: Request, actor: Annotated[str, Depends(require_admin)]
) -> dict[str, Any]:
    body = await read_body(request, settings_of(request).hub.max_body_bytes)
    try:
        payload = ReplayRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):  # no member to name
            message = f"the body is not valid JSON: {errors[0]['msg']}"
            raise ApiError(422, "invalid", message) from None
        details = [
            {"loc": ".".join(("body", *(str(p) for p in e["loc"]))), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ApiError(422, "invalid", "the request is not valid", details) from None
    if not payload.all and not payload.ids:
        raise ApiError(422, "invalid", "give 'ids' or set 'all': true")
    count = await hub_of(request).replay_dead_letters(
        actor, payload.ids, payload.all, payload.endpoint
    )
    return {"replayed": count}
