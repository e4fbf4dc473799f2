"""One exception tree for the whole hub, and its one mapping to HTTP problems.

A caller catches what it can act on: `ConfigurationError` (fix the files, restart),
`InvalidInput` (the partner's message cannot be accepted as it is), `Unauthorized` and
`Forbidden`, `NotFound`, `Conflict`, `UpstreamError` and its `Unavailable` (an outside
system: retry later). Every exception class the hub defines sits under `IntermodalError`,
so `except IntermodalError` separates "the hub said no, and why" from a bug.

`to_problem()` turns any of them into RFC 9457 problem details, so the API answers the
right status with the error's own message and context wherever it is raised. Classes
that mean the same thing to a partner whichever module raised them share one
`http_status`; a class whose status depends on the case (`ApiError`, `SignatureError`)
sets it per instance.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_TYPE = "urn:intermodal:problem:"
"""The prefix of every problem `type`: a stable name to key on, not a page to fetch."""

_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code", "message"})
_PLAIN = (str, int, float, bool, type(None))


class IntermodalError(Exception):
    """The root: something the hub refused or could not do, said in words a caller can use.

    `code` is a short stable name (`not_found`, `bad_signature`, `segment_count`) that
    clients and metrics key on; `str(error)` is the message for people.
    """

    http_status: int = 500
    code: str = "internal"

    def context(self) -> dict[str, Any]:
        """What the error knows beyond its message: the public plain-valued attributes its
        constructor set (partner, carrier, field problems), so each class's context comes
        with it without every module writing its own serialiser."""
        return {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_")
            and key not in _MEMBERS
            and key != "http_status"
            and _is_plain(value)
        }

    def to_problem(self) -> dict[str, Any]:
        """RFC 9457 problem details: type, title, status, detail, `code`, and the context
        as extension members."""
        status = self.http_status
        return {
            "type": PROBLEM_TYPE + self.code,
            "title": _phrase(status),
            "status": status,
            "detail": str(self),
            "code": self.code,
            **self.context(),
        }


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status http.HTTPStatus does not list
        return "Error"


def _is_plain(value: Any) -> bool:
    """Whether a value can go into a JSON body as it is, nested lists and dicts included."""
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


class ConfigurationError(IntermodalError):
    """The hub's own configuration is wrong (the YAML file, a flow, a mapping, a secret
    reference). Nothing a partner sends can fix it; an operator must."""

    code = "configuration"


class InvalidInput(IntermodalError):
    """A message or request that cannot be accepted as it is: it names the field and what
    was expected. Sending it again unchanged gives the same answer."""

    http_status = 422
    code = "invalid"


class Unauthorized(IntermodalError):
    """The sender did not prove who it is (no token, a bad signature)."""

    http_status = 401
    code = "unauthorized"


class Forbidden(IntermodalError):
    """The sender is known but may not do this."""

    http_status = 403
    code = "forbidden"


class NotFound(IntermodalError):
    """The thing named does not exist (a partner, a shipment, a receipt, an Odoo record)."""

    http_status = 404
    code = "not_found"


class Conflict(IntermodalError):
    """The request contradicts what the hub already holds (an id reused for other data)."""

    http_status = 409
    code = "conflict"


class UpstreamError(IntermodalError):
    """An outside system (Odoo, a carrier, a partner endpoint) answered with an error or
    with something the hub cannot read."""

    http_status = 502
    code = "upstream"


class Unavailable(UpstreamError):
    """An outside system, or the hub's own store, is down or busy: the same request may
    work later."""

    http_status = 503
    code = "unavailable"


__all__ = [
    "PROBLEM_TYPE",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "IntermodalError",
    "InvalidInput",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "UpstreamError",
]
