"""Request plumbing shared by the routes (webhooks, batches, EDI, Odoo changes, reads).

Each route reads a bounded body, takes the sender's correlation id when it is safe to echo
into logs and headers, and reads a bearer token the same way; one place keeps them alike.
Routes are plain functions: they find the hub and its settings on `request.app.state`,
where `create_app` put them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from fastapi import Request

from intermodal.api.errors import ApiError
from intermodal.config import Settings, token_hash
from intermodal.engine.commit_relay import Committer
from intermodal.engine.ids import sortable_id
from intermodal.engine.inbox import InboxMessage, Receipt, UnstorableMessage
from intermodal.ingress.signatures import SignatureError, verify

if TYPE_CHECKING:
    from intermodal.hub import Hub

_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
JSON_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)
_JSON_SUBTYPE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/(?:[!#$%&'*+.^_`|~0-9a-z-]*\+)?json")


def hub_of(request: Request) -> Hub:
    """The running hub (set by the application's lifespan)."""
    return cast("Hub", request.app.state.hub)


def settings_of(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it (or its declared length) passes `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "payload_too_large", f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def correlation_id(headers: Mapping[str, str]) -> str:
    """The sender's `X-Correlation-Id` when it is a plain token, else a new one."""
    given = headers.get("x-correlation-id", "")
    return given if _CORRELATION.match(given) else sortable_id("corr")


def plain_correlation(value: str) -> str | None:
    """`value` when it is safe to echo into logs and headers as a correlation id."""
    return value if _CORRELATION.match(value) else None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def store_unavailable() -> ApiError:
    """The answer when the store cannot take a message: a 503 the sender retries."""
    return ApiError(
        503, "unavailable", "the store is unavailable; retry later", headers={"Retry-After": "5"}
    )


async def store_durably(committer: Committer, messages: list[InboxMessage]) -> list[Receipt]:
    """Hand messages to the group committer; a store failure is a 503 the sender retries,
    a value the store refused a 422 (`unstorable`) that sending again will not change."""
    try:
        return await committer.submit(messages)
    except UnstorableMessage as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    except Exception:
        raise store_unavailable() from None


def verify_signature(
    keys: tuple[bytes, ...], headers: Mapping[str, str], body: bytes, tolerance: int
) -> None:
    """Check a Standard Webhooks signature on the raw body; a bad one is the API's 400/401."""
    try:
        verify(
            keys,
            headers.get("webhook-id"),
            headers.get("webhook-timestamp"),
            headers.get("webhook-signature"),
            body,
            tolerance=tolerance,
        )
    except SignatureError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


def require_json(headers: Mapping[str, str]) -> str:
    """The body's media type, or a 415 unless it declares JSON.

    Besides `JSON_TYPES`, any `*/json` or `*/*+json` type: a CloudEvent in binary mode
    sends its `datacontenttype` as the Content-Type (`application/vnd.carrier.scan+json`).
    """
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and not _JSON_SUBTYPE.fullmatch(media):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content-type must be one of {', '.join(JSON_TYPES)} or another */json or"
            " */*+json type",
        )
    return media


def token_partner(request: Request, settings: Settings, scope: str) -> str:
    """The partner whose bearer token this is, if the token carries `scope`."""
    token = bearer_token(request.headers)
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    entry = settings.tokens.get(token_hash(token))
    if entry is None:
        raise ApiError(
            401,
            "unauthorized",
            "the bearer token is not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    partner, scopes = entry
    if scope not in scopes:
        raise ApiError(403, "forbidden", f"this token lacks the '{scope}' scope")
    return partner
