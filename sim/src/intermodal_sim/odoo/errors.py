"""Odoo's exception tree, as the wire sees it.

Each protocol serialises an exception from its class name (`odoo.exceptions.UserError`),
its HTTP status (JSON-2) and its place in the hierarchy (XML-RPC fault codes). The classes
below carry exactly those three facts so the protocol adapters can stay dumb.
Source: odoo/exceptions.py (18/19) for names, messages and `http_status`.
"""

from __future__ import annotations

from typing import Any


class OdooError(Exception):
    """Base of every error the sim reports under an Odoo name rather than a Python one."""

    odoo_name = "odoo.exceptions.UserError"
    http_status = 500

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UserError(OdooError):
    odoo_name = "odoo.exceptions.UserError"
    http_status = 422


class AccessDenied(UserError):
    """Wrong credentials. Odoo suppresses its traceback, so the sim does too."""

    odoo_name = "odoo.exceptions.AccessDenied"
    http_status = 403

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class AccessError(UserError):
    odoo_name = "odoo.exceptions.AccessError"
    http_status = 403


class MissingError(UserError):
    odoo_name = "odoo.exceptions.MissingError"
    http_status = 404


class LockError(UserError):
    odoo_name = "odoo.exceptions.LockError"
    http_status = 409


class ValidationError(UserError):
    odoo_name = "odoo.exceptions.ValidationError"
    http_status = 422


class RedirectWarning(OdooError):
    odoo_name = "odoo.exceptions.RedirectWarning"
    http_status = 500


class SerializationFailure(OdooError):
    """What reaches the client once `retrying` (odoo/service/model.py) has spent its 5 tries."""

    odoo_name = "psycopg2.errors.SerializationFailure"
    http_status = 500

    def __init__(self) -> None:
        super().__init__("could not serialize access due to concurrent update")


class DataError(OdooError):
    """A value PostgreSQL refuses to cast (`psycopg2.errors.InvalidTextRepresentation`,
    `InvalidDatetimeFormat`): `retrying` re-raises it as is, so the client sees the psycopg2
    class name and a 500 (odoo/service/model.py retrying only wraps IntegrityError)."""

    http_status = 500

    def __init__(self, pg_class: str, message: str) -> None:
        super().__init__(message)
        self.odoo_name = f"psycopg2.errors.{pg_class}"


class DatabaseMissing(OdooError):
    """Naming a database the server does not have: psycopg fails to connect to it."""

    odoo_name = "psycopg2.OperationalError"
    http_status = 500

    def __init__(self, db: str) -> None:
        super().__init__(f'connection to server failed: FATAL:  database "{db}" does not exist')


class SessionExpired(OdooError):
    """odoo.http.SessionExpiredException: JSON-RPC code 100, JSON-2 status 403."""

    odoo_name = "odoo.http.SessionExpiredException"
    http_status = 403

    def __init__(self, message: str = "Session expired") -> None:
        super().__init__(message)


class HTTPError(Exception):
    """A werkzeug HTTPException: JSON-2 serialises it with `arguments=(description, code)`."""

    code = 500
    odoo_name = "werkzeug.exceptions.InternalServerError"
    default_description = "The server encountered an internal error."

    def __init__(self, description: str | None = None, headers: dict[str, str] | None = None):
        self.description = description or self.default_description
        self.headers = headers or {}
        super().__init__(self.description)


class BadRequest(HTTPError):
    code = 400
    odoo_name = "werkzeug.exceptions.BadRequest"
    default_description = (
        "The browser (or proxy) sent a request that this server could not understand."
    )


class Unauthorized(HTTPError):
    code = 401
    odoo_name = "werkzeug.exceptions.Unauthorized"
    default_description = (
        "The server could not verify that you are authorized to access the URL requested."
    )

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, {"WWW-Authenticate": "bearer"})


class NotFound(HTTPError):
    code = 404
    odoo_name = "werkzeug.exceptions.NotFound"
    default_description = (
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    )


class UnprocessableEntity(HTTPError):
    code = 422
    odoo_name = "werkzeug.exceptions.UnprocessableEntity"
    default_description = (
        "The request was well-formed but was unable to be followed due to semantic errors."
    )


def error_name(exc: BaseException) -> str:
    """The dotted name `serialize_exception` (odoo/http.py) gives an exception."""
    name = getattr(exc, "odoo_name", None)
    if isinstance(name, str):
        return name
    module = type(exc).__module__
    return f"{module}.{type(exc).__name__}" if module else type(exc).__name__


def error_message(exc: BaseException) -> str:
    """`exception_to_unicode` (odoo/tools/misc.py): the first argument, else str()."""
    if isinstance(exc, HTTPError):
        return exc.description
    if isinstance(exc, OdooError):
        return exc.message
    return str(exc)


def error_arguments(exc: BaseException) -> list[Any]:
    if isinstance(exc, HTTPError):
        return [exc.description, exc.code]
    return [a if isinstance(a, str | int | float | bool) or a is None else str(a) for a in exc.args]
