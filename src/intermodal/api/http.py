"""Request plumbing shared by the routes (webhooks, batches, EDI, Odoo changes, reads).

Each route reads a bounded body, takes the sender's correlation id when it is safe to echo
into logs and headers, and reads a bearer token the same way; one place keeps them alike.
Every bearer token is looked up by `token_grant`, and every read is authenticated by
`reader`, so a change to how tokens or sessions are kept lands here once.
Routes are plain functions: they find the hub and its settings on `request.app.state`,
where `create_app` put them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from fastapi import Request

from intermodal.api.errors import ApiError
from intermodal.config import WRITE_SCOPE, Settings
from intermodal.dashboard.auth import session_user
from intermodal.engine.commit_relay import Committer
from intermodal.engine.ids import sortable_id
from intermodal.engine.inbox import InboxMessage, Receipt, UnstorableMessage
from intermodal.ingress.signatures import SignatureError, verify
from intermodal.observe.logs import redacts_token
from intermodal.security.tokens import TokenGrant, TokenRejected, TokensUnavailable, route_kind

if TYPE_CHECKING:
    from intermodal.hub import Hub

_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,64}")
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
    given = headers.get("x-correlation-id")
    if given is not None and plain_correlation(given) is not None:
        return given
    return sortable_id("corr")


def plain_correlation(value: str) -> str | None:
    """`value` when it is safe to echo into logs and headers as a correlation id: 1 to 64
    letters, digits and `._:-`, and nothing the log redactor would hide (a phone number,
    a configured secret). Such an id would be stored and answered as given but logged
    masked, so a search for it in the logs would find nothing; it is replaced instead."""
    if not _CORRELATION.fullmatch(value):
        return None
    return None if redacts_token(value) else value


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


def token_grant(request: Request, token: str | None, partner: str | None = None) -> TokenGrant:
    """What a live partner token allows; any other (missing, unknown, expired, revoked) is
    a 401 that says which, counted and audited without the token by the hub's
    `TokenRegistry` (security/tokens.py), and unreadable issued tokens a 503 to retry.

    Every bearer-token lookup of the hub (ingress and reads) goes through here; `partner`
    is the one the request's URL names, for the audit of a token that names none.
    """
    tokens = hub_of(request).tokens
    try:
        return tokens.lookup(token, route_kind(request.scope["path"]), partner)
    except TokenRejected as exc:
        raise unauthorized(str(exc)) from None
    except TokensUnavailable:
        raise store_unavailable() from None


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def authenticate_partner(
    request: Request, route: str, partner: str, keys: tuple[bytes, ...], body: bytes
) -> None:
    """A partner's raw upload (an EDI file, a document) proves who sent it: a Standard
    Webhooks signature with one of `keys`, or a bearer token of `partner` with the
    `events:write` scope. Failures are counted and audited under `route`; a token of
    another partner is a 403, so one partner cannot post in another's name."""
    headers = request.headers
    tokens = hub_of(request).tokens
    if "webhook-signature" in headers:
        try:
            tolerance = settings_of(request).hub.signature_tolerance_seconds
            verify_signature(keys, headers, body, tolerance)
        except ApiError as exc:
            if exc.status == 401:
                tokens.failed(route, "signature", partner)
            raise
        return
    token = bearer_token(headers)
    if token is None:
        tokens.failed(route, "missing", partner)
        raise ApiError(
            401,
            "unauthorized",
            "a valid bearer token or a webhook signature is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    grant = token_grant(request, token, partner)
    if grant.partner != partner:
        tokens.failed(route, "wrong_partner", grant.partner, grant.token_id)
        raise ApiError(403, "forbidden", f"this token belongs to another partner, not '{partner}'")
    if WRITE_SCOPE not in grant.scopes:
        raise ApiError(403, "forbidden", f"this token lacks the '{WRITE_SCOPE}' scope")


def token_partner(request: Request, settings: Settings, scope: str) -> str:
    """The partner whose bearer token this is, if the token carries `scope`.

    `settings` stays for the callers' sake: the tokens themselves live on the hub."""
    grant = token_grant(request, bearer_token(request.headers))
    if scope not in grant.scopes:
        raise ApiError(403, "forbidden", f"this token lacks the '{scope}' scope")
    return grant.partner


NO_PARTNER_KEYS = (secrets.token_bytes(32),)
"""Webhook keys for a partner name nobody configured: nothing can be signed with them, so
such a request fails its signature check exactly as an unsigned one to a real partner."""


@dataclass(frozen=True)
class Reader:
    """Who is reading, and how far they see: a partner the shipments it took part in, a
    customer portal its customers' shipments, the admin token and operators everything."""

    partner: str | None = None
    """The partner whose token it is; None for the admin token and operator sessions."""
    customers: frozenset[str] | None = None
    """A customer portal's customers (its token's `customers`); None when not so limited."""


def reader(request: Request, scopes: frozenset[str]) -> Reader:
    """Who is reading: a partner token with one of `scopes`, the admin token, or a control
    tower session; anyone else is a 401 (a token that is present but wrong included), and a
    partner token without the scope (or any partner token, when `scopes` is empty) a 403.
    """
    token = bearer_token(request.headers)
    if token is None and tower_operator(request) is not None:
        return Reader()
    admin = settings_of(request).admin_token
    if token is not None and admin is not None and admin.matches(token):
        return Reader()
    grant = token_grant(request, token)  # no token and no session: 401, counted
    if not scopes:
        raise ApiError(403, "forbidden", "this is read with the admin token or a tower session")
    if not scopes & grant.scopes:
        wanted = " or ".join(f"'{scope}'" for scope in sorted(scopes))
        raise ApiError(403, "forbidden", f"this token lacks the {wanted} scope")
    request.state.partner = grant.partner  # for the request log line
    return Reader(grant.partner, grant.customers)


def tower_operator(request: Request) -> str | None:
    """The control-tower user whose session came with this request, if one is logged in.

    The one place the API asks the tower who a session belongs to (`session_user`: the
    session as the store holds it, so a logged-out or expired session reads nothing;
    without a tower there are no sessions).
    """
    if getattr(request.app.state, "tower_auth", None) is None:
        return None
    found = session_user(request)
    return found[0] if found is not None else None
