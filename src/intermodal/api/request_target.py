"""Control characters in a request's path, or in an API request's query, are refused
before any route runs.

No key, id, token or name the hub keeps holds one (shipment keys, receipt ids, command
ids and partner names are printable by rule), so such a request cannot find anything;
sent on, a NUL in `/v1/shipments/a%00b` reached PostgreSQL, which cannot bind it, and the
read failed with a 500. One check here covers every path, the webhook fast path and the
control tower included, and every query of the API (`/v1/`). The tower reads its own
query values as a form's (`dashboard/web.py`: NUL dropped, numbers bounded, `next`
checked), so a login link with a stray byte in `next` still leads to the tower.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from intermodal.api.errors import ApiError, error_response

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_QUERY = re.compile(rb"%(?:[01][0-9A-Fa-f]|7[Ff])|[\x00-\x1f\x7f]")
"""A control character in the raw query string, percent-encoded or (were a server to pass
one through) as it is: only then is the query decoded to name the parameter."""

_API = "/v1/"
_SAID = "holds a control character (U+0000 to U+001F or U+007F); no key, id or name has one"


class PlainRequestTarget:
    """ASGI middleware: a 400 naming the path or the API query parameter that holds a
    control character. Costs one regex search of the path per request (and of the query
    when there is one): the webhook, the hot path, has no query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            query = scope.get("query_string", b"") if path.startswith(_API) else b""
            refused = control_characters(path, query)
            if refused is not None:
                response = error_response(refused, Headers(scope=scope))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def control_characters(path: str, query: bytes) -> ApiError | None:
    """The 400 for a decoded path or a raw query string holding a control character."""
    if _CONTROL.search(path):
        return ApiError(400, "bad_request", f"the path {_SAID}", [{"loc": "path", "msg": _SAID}])
    if not query or not _CONTROL_IN_QUERY.search(query):
        return None
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    names = sorted(
        {_CONTROL.sub("?", name) for name, value in pairs if _CONTROL.search(name + value)}
    )
    details = [{"loc": f"query.{name}", "msg": _SAID} for name in names] or [
        {"loc": "query", "msg": _SAID}
    ]
    said = ", ".join(d["loc"] for d in details)
    return ApiError(400, "bad_request", f"{said} {_SAID}", details)


__all__ = ["PlainRequestTarget", "control_characters"]
