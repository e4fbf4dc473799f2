"""An async Odoo client: JSON-2 (Odoo 19+) or JSON-RPC `execute_kw` (Odoo 16-18).

Both protocols are reduced to one call shape, `call(model, method, ids=None, **params)`,
with named parameters (JSON-2 accepts nothing else, and `execute_kw` takes them as its
kwargs), so the writer never knows which one it speaks. One exception is made on the wire:
over JSON-RPC `create`'s `vals_list` travels positionally, because Odoo's call_kw reads
`args[0]` after creating to choose between `.id` and `.ids` and fails with IndexError when
the values came as a keyword (odoo/service/model.py call_kw, 18/19; odoo/api.py
_call_kw_model_create, 17). The protocol follows the server's version (`GET /web/version`
exists from 19 on; older servers answer `common.version` over JSON-RPC) unless the
configuration forces one.

Every failure becomes an `OdooError` that says whether trying again can help: network
errors, 5xx, 429 (with its Retry-After), lock and serialization failures are retryable;
Odoo's AccessError, UserError, ValidationError and MissingError are permanent and carry
Odoo's exception name and message (ODOO-API.md sections 1, 3 and 5).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson

from intermodal.errors import UpstreamError
from intermodal.observe import traces
from intermodal.observe.metrics import current as current_metrics
from intermodal.outbox.policy import retry_after_seconds
from intermodal.security.secrets import Secret

Protocol = Literal["json2", "jsonrpc"]

# Odoo's concurrency errors once `retrying` spent its tries (odoo/service/model.py), and
# LockError (409 in JSON-2): another transaction held the rows; the same call can succeed.
_RETRYABLE_NAMES = frozenset(
    {
        "psycopg2.errors.SerializationFailure",
        "psycopg2.errors.LockNotAvailable",
        "psycopg2.errors.DeadlockDetected",
        "psycopg.errors.SerializationFailure",
        "psycopg.errors.LockNotAvailable",
        "psycopg.errors.DeadlockDetected",
        "odoo.exceptions.ConcurrencyError",
        "odoo.exceptions.LockError",
    }
)
# A refused credential is a configuration problem, not the record's: keep the commands and
# try again later rather than dead-letter everything while an operator rotates a key.
_AUTH_NAMES = frozenset({"odoo.exceptions.AccessDenied", "werkzeug.exceptions.Unauthorized"})
_AUTH_RETRY_SECONDS = 60.0
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 502, 503, 504})


class OdooError(UpstreamError):
    """A failed Odoo call: Odoo's exception name and message, and whether to try again."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.name = name
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"{name}: {message}")


@dataclass(frozen=True)
class Connection:
    """Where the Odoo server is and how the hub logs in to it."""

    url: str
    database: str
    api_key: Secret
    login: str | None = None
    protocol: Literal["auto", "json2", "jsonrpc"] = "auto"
    timeout_seconds: float = 30.0
    user_agent: str = "intermodal-odoo-connector"
    concurrency: int = 4
    """Calls in flight at once: an Odoo server has a handful of workers; leave some free."""


class OdooClient:
    """One Odoo database over pooled HTTP connections (the `httpx.AsyncClient` is shared)."""

    def __init__(self, connection: Connection, http: httpx.AsyncClient) -> None:
        self.connection = connection
        self.http = http
        self.base = connection.url.rstrip("/")
        self.protocol: Protocol | None = (
            None if connection.protocol == "auto" else connection.protocol
        )
        self.version: str | None = None
        self._uid: int | None = None
        self._ids = itertools.count(1)
        self._slots = asyncio.Semaphore(connection.concurrency)

    # -- set-up ----------------------------------------------------------------------------
    async def detect(self) -> Protocol:
        """Pick the protocol from the server's version: JSON-2 from Odoo 19 on."""
        if self.protocol is not None:
            return self.protocol
        major = await self._server_major()
        self.protocol = "json2" if major >= 19 else "jsonrpc"
        return self.protocol

    async def _server_major(self) -> int:
        try:
            response = await self.http.get(
                f"{self.base}/web/version", timeout=self.connection.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise _network_error(exc) from exc
        if response.status_code == 200:
            try:
                info = orjson.loads(response.content)
                self.version = str(info["version"])
                return int(info["version_info"][0])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
                pass
        elif response.status_code >= 500 or response.status_code == 429:
            raise _status_error(response)
        # Odoo 16-18 have no /web/version; common.version has been there all along.
        info = await self._jsonrpc("common", "version", [])
        self.version = str(info.get("server_version"))
        return int(info["server_version_info"][0])

    async def _login(self) -> int:
        if self._uid is None:
            login = self.connection.login
            if not login:
                raise OdooError(
                    "intermodal.ConfigError",
                    "JSON-RPC needs the Odoo login of the API key's user (options.login)",
                    retryable=False,
                )
            uid = await self._jsonrpc(
                "common", "login", [self.connection.database, login, self.connection.api_key.value]
            )
            if not uid:  # common.login answers False, never an error (odoo/service/common.py)
                raise OdooError(
                    "odoo.exceptions.AccessDenied",
                    f"login '{login}' with the configured API key was refused",
                    retryable=True,
                    retry_after=_AUTH_RETRY_SECONDS,
                )
            self._uid = int(uid)
        return self._uid

    # -- calls -----------------------------------------------------------------------------
    async def call(
        self, model: str, method: str, ids: list[int] | None = None, **params: Any
    ) -> Any:
        """Call `model.method` on `ids` (None for @api.model methods) with named parameters.

        Each call is counted and timed (model, method, result) in the hub's metrics and
        traced as an `odoo <model>.<method>` span with the number of records it touches.
        """
        started = time.perf_counter()
        attributes = {
            "odoo.model": model,
            "odoo.method": method,
            "odoo.records": _records(ids, params),
        }
        with traces.client_span(f"odoo {model}.{method}", attributes) as span:
            try:
                result = await self._call(model, method, ids, params)
            except OdooError as exc:
                _observed(model, method, "retryable" if exc.retryable else "error", started)
                if span is not None:
                    span.set_attributes({"odoo.error": exc.name, "odoo.retryable": exc.retryable})
                raise
            _observed(model, method, "ok", started)
            if span is not None and ids is None and isinstance(result, list):
                span.set_attribute("odoo.records", len(result))
        return result

    async def _call(
        self, model: str, method: str, ids: list[int] | None, params: dict[str, Any]
    ) -> Any:
        protocol = await self.detect()
        if protocol == "json2":
            return await self._json2(model, method, ids, params)
        uid = await self._login()
        args, params = _positional(method, ids, params)
        return await self._jsonrpc(
            "object",
            "execute_kw",
            [
                self.connection.database,
                uid,
                self.connection.api_key.value,
                model,
                method,
                args,
                params,
            ],
        )

    async def _json2(
        self, model: str, method: str, ids: list[int] | None, params: dict[str, Any]
    ) -> Any:
        body: dict[str, Any] = dict(params)
        if ids is not None:
            body["ids"] = ids
        headers = {
            "authorization": f"bearer {self.connection.api_key.value}",
            "content-type": "application/json",
            "x-odoo-database": self.connection.database,
            "user-agent": self.connection.user_agent,
        }
        try:
            async with self._slots:
                response = await self.http.post(
                    f"{self.base}/json/2/{model}/{method}",
                    content=orjson.dumps(body),
                    headers=headers,
                    timeout=self.connection.timeout_seconds,
                )
        except httpx.HTTPError as exc:
            raise _network_error(exc) from exc
        if response.status_code == 200:
            return orjson.loads(response.content) if response.content else None
        raise _json2_error(response)

    async def _jsonrpc(self, service: str, method: str, args: list[Any]) -> Any:
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        try:
            async with self._slots:
                response = await self.http.post(
                    f"{self.base}/jsonrpc",
                    content=orjson.dumps(payload),
                    headers={
                        "content-type": "application/json",
                        "user-agent": self.connection.user_agent,
                    },
                    timeout=self.connection.timeout_seconds,
                )
        except httpx.HTTPError as exc:
            raise _network_error(exc) from exc
        if response.status_code != 200:
            raise _status_error(response)
        try:
            reply = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise OdooError(
                "intermodal.BadResponse",
                f"JSON-RPC answer is not JSON: {response.text[:200]}",
                retryable=True,
            ) from None
        error = reply.get("error") if isinstance(reply, dict) else None
        if error is not None:
            data = error.get("data") or {}
            name = str(data.get("name") or error.get("message") or "odoo.Error")
            message = str(data.get("message") or error.get("message") or "")
            if name == "odoo.http.SessionExpiredException" or error.get("code") == 100:
                self._uid = None
            raise _classified(name, message, status=200)
        # `result` is left out when the method returned None (odoo/http.py _response).
        return reply.get("result") if isinstance(reply, dict) else None


def _positional(
    method: str, ids: list[int] | None, params: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """execute_kw's `args` and `kw` for a call: the ids first (for methods on records), and
    `create`'s values in args[0] where call_kw looks for them."""
    args: list[Any] = [ids] if ids is not None else []
    if method == "create" and ids is None and "vals_list" in params:
        rest = dict(params)
        args.append(rest.pop("vals_list"))
        return args, rest
    return args, params


def _records(ids: list[int] | None, params: dict[str, Any]) -> int:
    """How many records a call touches: its ids, or the values it creates (else 0)."""
    if ids is not None:
        return len(ids)
    values = params.get("vals_list")
    return len(values) if isinstance(values, list) else 0


def _observed(model: str, method: str, result: str, started: float) -> None:
    metrics = current_metrics.get()
    if metrics is not None:
        metrics.odoo_call(model, method, result, time.perf_counter() - started)


def _classified(name: str, message: str, status: int | None) -> OdooError:
    if name in _RETRYABLE_NAMES:
        return OdooError(name, message, retryable=True, status=status)
    if name in _AUTH_NAMES:
        return OdooError(
            name, message, retryable=True, retry_after=_AUTH_RETRY_SECONDS, status=status
        )
    return OdooError(name, message, retryable=False, status=status)


def _json2_error(response: httpx.Response) -> OdooError:
    status = response.status_code
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or "name" not in body:
        # An HTML page: a proxy in front of Odoo (429, 502, 503, 504) or a routing error.
        return _status_error(response)
    name, message = str(body["name"]), str(body.get("message") or "")
    if status == 401:
        return OdooError(
            name, message, retryable=True, retry_after=_AUTH_RETRY_SECONDS, status=status
        )
    if status in (409, 429) or name in _RETRYABLE_NAMES:
        after = retry_after_seconds(response.headers.get("retry-after"))
        return OdooError(name, message, retryable=True, retry_after=after, status=status)
    # 403 AccessError, 404 MissingError/NotFound, 422 UserError/ValidationError, and a 500
    # that names a Python exception (a bad field, a bad value): the same call fails again.
    return OdooError(name, message, retryable=False, status=status)


def _status_error(response: httpx.Response) -> OdooError:
    status = response.status_code
    retryable = status >= 500 or status in _RETRYABLE_STATUS
    after = retry_after_seconds(response.headers.get("retry-after")) if retryable else None
    text = " ".join(response.text.split())[:200]
    return OdooError(f"HTTP {status}", text, retryable=retryable, retry_after=after, status=status)


def _network_error(exc: httpx.HTTPError) -> OdooError:
    return OdooError(type(exc).__name__, str(exc) or repr(exc), retryable=True)
