"""The OpenAPI description the hub publishes at `/openapi.json`, every error answer in it.

FastAPI describes what a route answers when it succeeds, plus its own validation error
in a shape the hub never sends (api/errors.py answers `{"error": ...}`, or RFC 9457
problem details). A partner's engineer generating a client from the description needs
the failures too: which statuses, which body, which headers to honour (`Retry-After`).
They are added here, by route kind, rather than in each route decorator, so a route
added later gets the answers of its kind without anyone remembering to list them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from intermodal.api.lifecycle import EXTENSION, POLICY

ERROR = "Error"
PROBLEM = "Problem"
DETAIL = "ErrorDetail"
READINESS = "Readiness"
BATCH_RESULT = "BatchResult"
_BATCH = "/v1/events"

# The ways in: each reads a body it may refuse (400, 413, 415) and stores it (503,
# Retry-After). Webhooks prove the sender by signature alone, so no scope can be missing
# (403); a batch answers a reused event id per event in its results, not with a 409.
_INGRESS: dict[str, tuple[int, ...]] = {
    "/v1/webhooks/{partner}": (400, 401, 409, 413, 415, 422, 429, 503),
    "/v1/events": (400, 401, 403, 413, 415, 422, 429, 503),
    "/v1/edi/{partner}": (400, 401, 403, 409, 413, 415, 422, 429, 503),
    "/v1/odoo/{partner}/changes": (400, 401, 403, 413, 422, 429, 503),
    "/v1/documents/{partner}": (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
}
# What a load balancer polls answers anyone; readiness says "not yet" with a 503.
_OPEN: dict[str, tuple[int, ...]] = {"/healthz": (), "/readyz": (503,)}

_DESCRIPTIONS = {
    400: "The body or a header cannot be read: not JSON, not X12 or EDIFACT, a malformed"
    " signature header.",
    401: "No credentials, or ones the hub does not accept: a missing or wrong signature, an"
    " unknown, expired or revoked token. A partner name the hub does not know answers the"
    " same, so names cannot be guessed. `WWW-Authenticate` names the scheme where a token"
    " is taken.",
    403: "The credentials are good but may not do this: a token without the scope, or of"
    " another partner; an operator's role without the right; the admin API switched off.",
    404: "Nothing by that name that these credentials may read. Something another partner"
    " owns answers the same as something that does not exist.",
    409: "The message id (`webhook-id`, an EDI control number) was used before for a"
    " different body. Nothing was stored; send new content under a new id.",
    413: "The body is larger than `hub.max_body_bytes`, or a batch holds more than"
    " `hub.max_batch_events` events.",
    415: "The `Content-Type` is not one this operation reads.",
    422: "A parameter, field or event is not valid; `details` (or the problem's `errors` or"
    " `problems`) names each by its path.",
    429: "This partner sent more than its rate allows. Nothing was stored; retry after"
    " `Retry-After` seconds.",
    503: "The store cannot take the message now. Nothing was stored; retry after"
    " `Retry-After` seconds with the same message id.",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer` where a bearer token is taken",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    },
    503: {
        "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    },
}
_DEPRECATION_HEADERS = {
    "Deprecation": {
        "description": "RFC 9745: when the operation was deprecated, `@` and Unix seconds",
        "schema": {"type": "string", "pattern": "^@-?[0-9]+$"},
    },
    "Sunset": {
        "description": "RFC 8594: the HTTP date after which the operation may stop answering",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": f'`<{POLICY}>; rel="deprecation"` and, where one exists, the'
        ' operation that replaces it as rel="successor-version"',
        "schema": {"type": "string"},
    },
}

_SCHEMAS: dict[str, dict[str, Any]] = {
    DETAIL: {
        "title": DETAIL,
        "description": "One problem with the request: `loc` is the path of the field or"
        " parameter, `msg` what was expected. EDI problems add the segment and position.",
        "type": "object",
        "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}},
    },
    ERROR: {
        "title": ERROR,
        "description": "The hub's error answer (`application/json`).",
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "A short stable name to key on: `unauthorized`,"
                        " `not_found`, `invalid_event`, `payload_too_large`...",
                    },
                    "message": {"type": "string", "description": "For people."},
                    "details": {
                        "type": "array",
                        "items": {"$ref": f"#/components/schemas/{DETAIL}"},
                    },
                },
            }
        },
    },
    PROBLEM: {
        "title": PROBLEM,
        "description": "The same answer as RFC 9457 problem details, for a client that"
        " sends `Accept: application/problem+json`.",
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "`urn:intermodal:problem:` + code"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": f"#/components/schemas/{DETAIL}"}},
            "problems": {"type": "array", "items": {"$ref": f"#/components/schemas/{DETAIL}"}},
        },
    },
    BATCH_RESULT: {
        "title": BATCH_RESULT,
        "description": "A batch's answer: a result per event, in the order sent. A 422 when"
        " no event was taken, each rejected one with its `errors`.",
        "type": "object",
        "required": ["accepted", "duplicate", "conflict", "rejected", "correlation_id", "results"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "duplicate": {"type": "integer", "minimum": 0},
            "conflict": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "correlation_id": {"type": "string"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "id", "status"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "id": {"type": ["string", "null"]},
                        "status": {
                            "enum": ["accepted", "duplicate", "conflict", "rejected"],
                        },
                        "receipt_id": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {"$ref": f"#/components/schemas/{DETAIL}"},
                        },
                    },
                },
            },
        },
    },
    READINESS: {
        "title": READINESS,
        "type": "object",
        "required": ["status", "store", "workers"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not_ready"]},
            "store": {"type": "boolean"},
            "workers": {"type": "object", "additionalProperties": {"type": "boolean"}},
        },
    },
}
# FastAPI's validation error shape; the hub answers its own (api/errors.py).
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_PARAMETER = re.compile(r"\{([^}]+)\}")


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> tuple[int, ...]:
    """The error answers of one operation, by its kind.

    Anything but the open probes needs credentials (401) that may lack a right (403); a
    path naming a thing may find nothing (404), a partner name excepted (an unknown one
    is a 401); parameters or a body may be invalid (422).
    """
    if path in _OPEN:
        return _OPEN[path]
    if method == "post" and path in _INGRESS:
        return _INGRESS[path]
    found = {401, 403}
    if any(name != "partner" for name in _PARAMETER.findall(path)):
        found.add(404)
    if operation.get("parameters") or "requestBody" in operation:
        found.add(422)
    return tuple(sorted(found))


def _error_answer(status: int, described: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": described or _DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}},
            "application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}},
        },
    }
    if status in _HEADERS:
        answer["headers"] = copy.deepcopy(_HEADERS[status])
    return answer


def with_error_answers(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` (FastAPI's description) with every operation's error answers, in place."""
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            fastapi_422 = {422} if "422" in responses else set()  # its shape, not ours
            for status in sorted({*error_statuses(method, path, operation), *fastapi_422}):
                given = responses.get(str(status), {})
                if path == "/readyz":
                    responses[str(status)] = _not_ready()
                elif "content" not in given or str(status) == "422":
                    responses[str(status)] = _error_answer(status, given.get("description"))
            if path == _BATCH and method == "post":
                _describe_batch(responses)
            if operation.get("deprecated") and EXTENSION in operation:
                _describe_deprecation(operation)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(_SCHEMAS))  # the app's own, not this module's constants
    return spec


def _describe_batch(responses: dict[str, Any]) -> None:
    """A batch answers its per-event results, also as the 422 when no event was taken."""
    result = {"$ref": f"#/components/schemas/{BATCH_RESULT}"}
    for status in ("200", "202"):
        if status in responses:
            responses[status]["content"] = {"application/json": {"schema": result}}
    invalid = responses["422"]
    invalid["description"] += (
        " When the batch reads but no event in it is valid, the answer is the batch result"
        " (`application/json`, whatever the `Accept`), each event's problems in its `errors`."
    )
    invalid["content"]["application/json"]["schema"] = {
        "oneOf": [{"$ref": f"#/components/schemas/{ERROR}"}, result]
    }


def _not_ready() -> dict[str, Any]:
    return {
        "description": "Not ready: the store does not answer or a worker stopped.",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{READINESS}"}}},
    }


def _describe_deprecation(operation: dict[str, Any]) -> None:
    notice = operation[EXTENSION]
    instead = f" Use `{notice['successor']}` instead." if notice.get("successor") else ""
    said = f"Deprecated since {notice['since'][:10]}; answers until {notice['sunset'][:10]}."
    operation["description"] = f"{said}{instead}\n\n{operation.get('description', '')}".strip()
    for answer in operation["responses"].values():
        answer.setdefault("headers", {}).update(_DEPRECATION_HEADERS)


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/openapi.json`) answer the finished description."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_error_answers(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["error_statuses", "install", "with_error_answers"]
