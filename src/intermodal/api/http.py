"""Request plumbing shared by every ingress route (webhooks, batches, EDI, Odoo changes).

Each route reads a bounded body, takes the sender's correlation id when it is safe to echo
into logs and headers, and reads a bearer token the same way; one place keeps them alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import Request

from intermodal.api.errors import ApiError
from intermodal.engine.ids import sortable_id
from intermodal.engine.inbox import GroupCommitter, InboxMessage, Receipt

_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


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


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def store_durably(committer: GroupCommitter, messages: list[InboxMessage]) -> list[Receipt]:
    """Hand messages to the group committer; a store failure is a 503 the sender retries."""
    try:
        return await committer.submit(messages)
    except Exception:
        raise ApiError(
            503,
            "unavailable",
            "the store is unavailable; retry later",
            headers={"Retry-After": "5"},
        ) from None
