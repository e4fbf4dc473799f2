"""Deprecated routes say so on every answer: `Deprecation` (RFC 9745), `Sunset` (RFC 8594)
and `Link`s to the API description and the route that replaces it.

A partner's integration rarely has a person reading our changelog; it does have logs, and
HTTP clients and API gateways that flag these headers. So a route is marked once, where it
is declared, and everything follows from that mark: the answers (successes and errors
alike: the headers are added on the way out, after the error handlers) and the
OpenAPI description (`deprecated: true`, the dates, the successor; api/openapi.py).

    @router.get("/v1/old", **deprecated(since=date(2027, 1, 4), sunset=date(2027, 7, 5),
                                        successor="/v1/new"))

docs/api-lifecycle.md says how long a deprecated route keeps answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXTENSION = "x-deprecation"
"""The OpenAPI extension member on a deprecated operation: since, sunset, successor."""

POLICY = "/docs"
"""Where `Link: rel="deprecation"` points: the hub's own API description, which marks the
operation deprecated with its dates and successor; the policy itself is docs/api-lifecycle.md."""

MINIMUM_NOTICE_DAYS = 180
"""The shortest time between a deprecation and its sunset (docs/api-lifecycle.md)."""


@dataclass(frozen=True, slots=True)
class Deprecation:
    """One route's deprecation: from when, until when it answers, and what replaces it."""

    since: datetime
    sunset: datetime
    successor: str | None = None

    def __post_init__(self) -> None:
        if (self.sunset - self.since).days < MINIMUM_NOTICE_DAYS:
            raise ValueError(
                f"a sunset {self.sunset:%Y-%m-%d} only {(self.sunset - self.since).days} days"
                f" after the deprecation ({self.since:%Y-%m-%d}): the policy gives partners"
                f" at least {MINIMUM_NOTICE_DAYS}"
            )

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The answer's headers, as the ASGI `http.response.start` message carries them."""
        links = [f'<{POLICY}>; rel="deprecation"; type="text/html"']
        if self.successor is not None:
            links.append(f'<{self.successor}>; rel="successor-version"')
        return [
            (b"deprecation", f"@{int(self.since.timestamp())}".encode()),
            (b"sunset", format_datetime(self.sunset, usegmt=True).encode()),
            (b"link", ", ".join(links).encode()),
        ]

    def extension(self) -> dict[str, str]:
        """The `x-deprecation` member of the operation in the OpenAPI description."""
        found = {"since": self.since.isoformat(), "sunset": self.sunset.isoformat()}
        return found | ({"successor": self.successor} if self.successor else {})

    @classmethod
    def from_extension(cls, found: dict[str, str]) -> Deprecation:
        return cls(
            datetime.fromisoformat(found["since"]),
            datetime.fromisoformat(found["sunset"]),
            found.get("successor"),
        )


def deprecated(since: date, sunset: date, successor: str | None = None) -> dict[str, Any]:
    """Keyword arguments for a route decorator that mark the route deprecated.

    Dates are whole days, starting at midnight UTC; `successor` is the path that replaces
    the route, if one does."""
    notice = Deprecation(_midnight(since), _midnight(sunset), successor)
    return {"deprecated": True, "openapi_extra": {EXTENSION: notice.extension()}}


def _midnight(day: date) -> datetime:
    if isinstance(day, datetime):
        return day.astimezone(UTC)
    return datetime.combine(day, time(0), tzinfo=UTC)


class DeprecationHeaders:
    """ASGI middleware: the answers of a route marked `deprecated(...)` carry its headers.

    It reads the route the router matched (`scope["route"]`) when the answer starts, and
    sits outside the handlers that turn errors into answers, so a 404 or 422 is marked
    too (the last-resort 500 is answered further out, unmarked). Installed inside the
    application, behind the webhook fast path, which never reaches a router and so costs
    a webhook nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._notices: dict[int, list[tuple[bytes, bytes]] | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = self._headers_of(scope.get("route"))
                if headers:
                    message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, marked)

    def _headers_of(self, route: Any) -> list[tuple[bytes, bytes]] | None:
        if route is None or not getattr(route, "deprecated", False):
            return None
        key = id(route)
        if key not in self._notices:
            extra = getattr(route, "openapi_extra", None) or {}
            found = extra.get(EXTENSION)
            self._notices[key] = Deprecation.from_extension(found).headers() if found else None
        return self._notices[key]


__all__ = ["EXTENSION", "Deprecation", "DeprecationHeaders", "deprecated"]
