"""The paged, filtered list that dead letters and quarantined messages share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from intermodal.dashboard import views
from intermodal.dashboard.auth import Operator, Session
from intermodal.dashboard.web import query_int, render, text, tower
from intermodal.store import Store

Lister = Callable[[Store, str | None, int, int], tuple[list[dict[str, Any]], int]]


async def listing(
    request: Request,
    operator: Operator,
    session: Session,
    template: str,
    key: str,
    choices: list[str],
    lister: Lister,
) -> Response:
    """A page of items filtered by `key` (endpoint or partner) and read after a seq;
    `lister(store, chosen, page, after)`."""
    chosen = text(request.query_params.get(key), 64)
    after = query_int(request.query_params.get("after"))
    store = tower(request).hub().store
    items, total = await asyncio.to_thread(lister, store, chosen, views.PAGE, after)
    return render(
        request,
        template,
        {
            "items": items,
            "total": total,
            key: chosen,
            f"{key}s": choices,
            "after": after,
            "next_after": items[-1]["seq"] if len(items) == views.PAGE else None,
        },
        operator=operator,
        session=session,
    )
