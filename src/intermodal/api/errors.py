"""One JSON error shape for every failure: `{"error": {"code", "message", "details"}}`.

Partners' integration engineers read these bodies in their own logs; each names the
problem and, for bad input, the path of the field, never a stack trace or a secret.
A client that sends `Accept: application/problem+json` gets the same answer as RFC 9457
problem details instead (`IntermodalError.to_problem`), so both shapes come from one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from intermodal.errors import IntermodalError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class ApiError(IntermodalError):
    """An answer a route chose: status, code, message, field details and headers, each
    picked for the partner who reads it, so none of it is hidden on a 5xx."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def context(self) -> dict[str, Any]:
        return {"errors": self.details} if self.details else {}


def problem(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


# What a caller reads when an error it cannot act on reached a route: the status says
# whose fault it is; the message an outside system gave may hold its internals.
_HIDDEN_DETAIL = {
    500: "internal error; the message was not stored",
    502: "an outside system answered with an error; see the hub's log",
    503: "a system the hub depends on is unavailable; retry later",
}


def error_response(exc: IntermodalError, headers: Mapping[str, str]) -> JSONResponse:
    """The answer to an error that reached a route, in the shape the client asked for."""
    found = exc.to_problem()
    if found["status"] >= 500 and not isinstance(exc, ApiError):
        log.error("%s reached a route: %s", type(exc).__name__, exc, exc_info=exc)
        found = {key: found[key] for key in ("type", "title", "status", "code")} | {
            "detail": _HIDDEN_DETAIL.get(found["status"], _HIDDEN_DETAIL[500])
        }
    extra = exc.headers if isinstance(exc, ApiError) else None
    if PROBLEM_JSON in headers.get("accept", ""):
        return JSONResponse(
            found, status_code=found["status"], headers=extra, media_type=PROBLEM_JSON
        )
    details = found.get("errors") or found.get("problems")  # EventError's field problems
    return problem(found["status"], found["code"], found["detail"], details, extra)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


def install(app: FastAPI) -> None:
    @app.exception_handler(IntermodalError)
    async def _intermodal_error(request: Request, exc: IntermodalError) -> Response:
        return error_response(exc, request.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        headers = getattr(exc, "headers", None)
        answer = ApiError(exc.status_code, code, str(exc.detail), headers=dict(headers or {}))
        return error_response(answer, request.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return error_response(
            ApiError(422, "invalid", "the request is not valid", details), request.headers
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> Response:
        """The client left before its body arrived, or `hub.limits` cut it off
        (api/limits.py): nobody reads an answer, and it is no error of the hub's to log."""
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "internal", "internal error; the message was not stored")
