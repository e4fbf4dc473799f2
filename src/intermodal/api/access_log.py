"""One log line per HTTP request: method, path, status, duration, partner, correlation id.

An operator watching `intermodal serve` should see a partner's 409 or 401 as it happens,
and find every request of one message by its correlation id. The line goes through the
project's logging (observe/logs.py: JSON, personal data and secrets redacted) on the
`intermodal.access` logger at INFO, so `hub.log_level: warning`, or that logger set to
WARNING, turns it off. When it is off the middleware costs one cached level check per
request: the webhook is the hot path.

A request that brings no usable `X-Correlation-Id` is given one here, before any route
sees it, so the id on the line is the one the route stores with the message and answers
with; a line about a message therefore finds the message.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intermodal.api.http import plain_correlation
from intermodal.engine.ids import sortable_id
from intermodal.ingress.webhook import partner_from_path

log = logging.getLogger("intermodal.access")
_CORRELATION = b"x-correlation-id"


class AccessLog:
    """ASGI middleware around the whole application, the webhook fast path included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope, correlation = _with_correlation(scope)
        status: int | None = None  # stays None if the client left before an answer

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            _line(scope, status, correlation, started)


def _with_correlation(scope: Scope) -> tuple[Scope, str]:
    """The request's correlation id, and a scope whose headers carry it (a copy when the
    id is new: the server's own scope is left as it was)."""
    headers = scope["headers"]
    for name, value in headers:
        if name == _CORRELATION:
            given = plain_correlation(value.decode("latin-1"))
            if given is not None:
                return scope, given
    correlation = sortable_id("corr")
    kept = [(name, value) for name, value in headers if name != _CORRELATION]
    return {**scope, "headers": [*kept, (_CORRELATION, correlation.encode())]}, correlation


def _line(scope: Scope, status: int | None, correlation: str, started: float) -> None:
    """The partner is what a route noted on the request's state (a batch's token names
    it), else the route's path parameter, else the webhook path (answered before any
    routing)."""
    state = scope.get("state") or {}
    path = scope.get("path", "")
    partner = (
        state.get("partner")
        or (scope.get("path_params") or {}).get("partner")
        or partner_from_path(path)
    )
    method = scope.get("method", "")
    log.info(
        "%s %s %s",
        method,
        path,
        status if status is not None else "-",
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "partner": partner,
            "correlation_id": correlation,
        },
    )
