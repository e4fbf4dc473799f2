"""The HTTP face of the sim: Odoo's routes, envelopes and status codes, plus an admin API.

Routes and what defines them in Odoo (repo odoo/odoo unless said):
  POST /jsonrpc                      addons/rpc/controllers/jsonrpc.py; envelope odoo/http.py
  POST /xmlrpc/<svc>, /xmlrpc/2/<svc> addons/rpc/controllers/xmlrpc.py
  POST /json/2/<model>/<method>      addons/rpc/controllers/json2.py; errors odoo/http.py
                                     Json2Dispatcher.handle_error (19 only)
  GET  /doc-bearer/<model>.json      addons/api_doc/controllers/api_doc.py (19 only)
  POST /web/webclient/version_info, /web/session/*, /web/dataset/call_kw, /web/database/list
                                     addons/web/controllers/{webclient,session,dataset,database}.py
  GET  /web/version, /json/version   addons/rpc/controllers/__init__.py
  GET  /web/binary/company_logo, /logo, /logo.png
                                     addons/web/controllers/binary.py company_logo
  POST /jsonrpc service "db"         odoo/service/db.py, in databases.py
  GET  /, /web, /odoo, /odoo/<model>/<id>
                                     addons/web/controllers/home.py; not the web client but
                                     a landing page and a read-only record (web_pages.py)
  /__sim/*                           the sim's own admin API: faults, call counters, webhooks.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import re
import secrets
import struct
import traceback
import xmlrpc.client
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal_sim.odoo import web_pages
from intermodal_sim.odoo.automation import Delivery
from intermodal_sim.odoo.databases import DatabaseServer
from intermodal_sim.odoo.errors import (
    AccessDenied,
    AccessError,
    BadRequest,
    HTTPError,
    MissingError,
    NotFound,
    OdooError,
    RedirectWarning,
    SessionExpired,
    Unauthorized,
    UnprocessableEntity,
    UserError,
    error_arguments,
    error_message,
    error_name,
)
from intermodal_sim.odoo.faults import Decision, FaultSpecError
from intermodal_sim.odoo.orm import SUPERUSER_ID, BaseModel, Env, get_public_method
from intermodal_sim.odoo.service import OdooSim, Session

JSON_MIMETYPES = ("application/json", "application/json-rpc")
JSON_CT = "application/json; charset=utf-8"
MAX_CONTENT_LENGTH = 128 * 1024 * 1024
BEARER = re.compile(r"^bearer\s+(.+)$", re.IGNORECASE)
CONTROL_CHARACTERS = dict.fromkeys(set(range(32)) - {9, 10, 13})
NOT_FOUND_HTML = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n"
)
PROXY_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG, written by hand: the sim's stand-ins for web/static/img/logo.png and
    nologo.png, whose artwork is Odoo's and not ours to ship."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )  # fmt: skip

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


PLACEHOLDER_LOGO = solid_png(180, 46, (113, 75, 103))  # web/static/img/logo.png
PLACEHOLDER_NOLOGO = solid_png(180, 46, (222, 226, 230))  # web/static/img/nologo.png
IMAGE_MIMETYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def guess_image_mimetype(data: bytes) -> str:
    """odoo/tools/mimetypes.py guess_mimetype for the images a logo can be, default PNG."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.lstrip()[:1] == b"<" and b"<svg" in data[:1024]:
        return "image/svg+xml"
    for signature, mimetype in IMAGE_MIMETYPES:
        if data.startswith(signature):
            return mimetype
    return "image/png"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(dumps(value), status_code=status, headers=headers, media_type=JSON_CT)


def html_response(status: int, body: str) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8")


def proxy_response(decision: Decision) -> Response:
    """What nginx in front of Odoo answers when it throttles or has no healthy upstream."""
    status = decision.status or 503
    reason = PROXY_REASONS.get(status, "Error")
    headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after else None
    body = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Response(body, status_code=status, headers=headers, media_type="text/html")


def debug_text(exc: BaseException) -> str:
    """The `debug` member: a traceback ending on the exception as Odoo names it."""
    if isinstance(exc, AccessDenied):
        # odoo/exceptions.py AccessDenied drops its traceback (suppress_traceback).
        return f"{error_name(exc)}: {error_message(exc)}\n"
    frames = "".join(traceback.format_tb(exc.__traceback__)) if exc.__traceback__ else ""
    return f"Traceback (most recent call last):\n{frames}{error_name(exc)}: {error_message(exc)}\n"


def serialize_exception(exc: BaseException, major: int) -> dict[str, Any]:
    """odoo/http.py serialize_exception; 19 orders the keys name, message, arguments, ..."""
    data = {
        "name": error_name(exc),
        "message": error_message(exc),
        "arguments": error_arguments(exc),
        "context": {},
        "debug": debug_text(exc),
    }
    if major <= 18:
        order = ("name", "debug", "message", "arguments", "context")
        return {key: data[key] for key in order}
    return data


def jsonrpc_error(exc: BaseException, major: int) -> dict[str, Any]:
    """odoo/http.py JsonRPCDispatcher.handle_error: code 200 up to 18, 0 in 19."""
    error: dict[str, Any] = {
        "code": 0 if major >= 19 else 200,
        "message": "Odoo Server Error",
        "data": serialize_exception(exc, major),
    }
    if isinstance(exc, NotFound):
        error["code"] = 404
        error["message"] = "404: Not Found"
    elif isinstance(exc, SessionExpired):
        error["code"] = 100
        error["message"] = "Odoo Session Expired"
    return error


def jsonrpc_envelope(request_id: Any, result: Any = None, error: Any = None) -> Response:
    """odoo/http.py JsonRPCDispatcher._response: `result` is left out when it is None."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = error
    if result is not None:
        body["result"] = result
    return json_response(body)


class OdooMarshaller(xmlrpc.client.Marshaller):
    """addons/rpc/controllers/xmlrpc.py OdooMarshaller: control characters are stripped."""

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def dump_text(self, value: Any, write: Callable[[str], object]) -> None:
        if isinstance(value, bytes):
            value = value.decode()
        xmlrpc.client.Marshaller.dump_unicode(self, value.translate(CONTROL_CHARACTERS), write)

    dispatch[str] = dump_text  # type: ignore[assignment]
    dispatch[bytes] = dump_text  # type: ignore[assignment]


def xmlrpc_dumps(params: tuple[Any, ...] | xmlrpc.client.Fault) -> str:
    response = OdooMarshaller(allow_none=False).dumps(params)
    return f'<?xml version="1.0"?>\n<methodResponse>\n{response}\n</methodResponse>\n'


def xmlrpc_fault_int(exc: BaseException) -> xmlrpc.client.Fault:
    """xmlrpc_handle_exception_int: /xmlrpc/2 integer fault codes."""
    if isinstance(exc, RedirectWarning):
        return xmlrpc.client.Fault(2, error_message(exc))
    if isinstance(exc, AccessError):
        return xmlrpc.client.Fault(4, error_message(exc))
    if isinstance(exc, AccessDenied):
        return xmlrpc.client.Fault(3, error_message(exc))
    if isinstance(exc, UserError):
        return xmlrpc.client.Fault(2, error_message(exc))
    return xmlrpc.client.Fault(1, debug_text(exc))


def xmlrpc_fault_string(exc: BaseException) -> xmlrpc.client.Fault:
    """xmlrpc_handle_exception_string: the legacy /xmlrpc string fault codes."""
    message = error_message(exc)
    if isinstance(exc, RedirectWarning):
        return xmlrpc.client.Fault(f"warning -- Warning\n\n{message}", "")  # type: ignore[arg-type]
    if isinstance(exc, MissingError):
        return xmlrpc.client.Fault(f"warning -- MissingError\n\n{message}", "")  # type: ignore[arg-type]
    if isinstance(exc, AccessError):
        return xmlrpc.client.Fault(f"warning -- AccessError\n\n{message}", "")  # type: ignore[arg-type]
    if isinstance(exc, AccessDenied):
        return xmlrpc.client.Fault("AccessDenied", message)  # type: ignore[arg-type]
    if isinstance(exc, UserError):
        return xmlrpc.client.Fault(f"warning -- UserError\n\n{message}", "")  # type: ignore[arg-type]
    return xmlrpc.client.Fault(message, debug_text(exc))  # type: ignore[arg-type]


def json2_call(env: Env, model: str, method: str, _args: list[Any], params: dict[str, Any]) -> Any:
    """addons/rpc/controllers/json2.py web_json_2_rpc, step for step."""
    ids = params.pop("ids", ())
    context = params.pop("context", {})
    if model not in env:
        raise NotFound(f"the model {model!r} does not exist")
    if not isinstance(context, Mapping):
        raise ValueError(f"context must be an object, not {type(context).__name__}")
    rec = env.with_context(context)[model]
    try:
        func = get_public_method(rec, method)
    except AttributeError as exc:
        raise NotFound(exc.args[0]) from exc
    if getattr(func, "_api_model", False) and ids:
        raise UnprocessableEntity(f"cannot call {model}.{method} with ids")
    records = rec.browse(ids)
    try:
        inspect.signature(func).bind(records, **params)
    except TypeError as exc:
        raise UnprocessableEntity(exc.args[0]) from exc
    result = func(records, **params)
    if isinstance(result, BaseModel):
        result = result.ids
    return result


def _mimetype(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


class SimApp:
    """Builds the Starlette application around one OdooSim."""

    def __init__(self, sim: OdooSim) -> None:
        self.sim = sim
        self.major = sim.major
        self.dbs = DatabaseServer(sim)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # -- shared call path -----------------------------------------------------------------

    async def _run(
        self,
        protocol: str,
        model: str | None,
        method: str | None,
        call: Callable[[bool], tuple[Any, list[Delivery]]],
    ) -> Any:
        """Count, apply faults, run the call; returns a Response when a fault answers instead."""
        self.sim.count(protocol, model or "-", method or "-")
        decision = self.sim.faults.decide(model, method)
        if decision.status:
            return proxy_response(decision)
        if decision.hang:
            await asyncio.sleep(decision.hang)
            return proxy_response(Decision(status=504))
        if decision.delay:
            await asyncio.sleep(decision.delay)
        result, deliveries = call(decision.serialization)
        for delivery in deliveries:
            self._deliver(delivery)
        if decision.per_record:
            count = len(result) if isinstance(result, list) else 1
            await asyncio.sleep(decision.per_record * count)
        return result

    def _deliver(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._post(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, delivery: Delivery) -> None:
        """Fire and forget with a 1 s timeout, as `_run_action_webhook` posts post-commit."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=1.0)
        record: dict[str, Any] = {"url": delivery.url, "model": delivery.model,
                                  "id": delivery.record_id, "action": delivery.action,
                                  "body": json.loads(delivery.body)}  # fmt: skip
        try:
            response = await self._client.post(
                delivery.url, content=delivery.body,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        self.sim.deliveries.append(record)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.dbs.close()

    def _sim_for(self, db: Any) -> OdooSim:
        """The database a call names; the main one answers for names the server lacks, with
        the error Odoo gives for a database that does not exist."""
        return self.dbs.get(db) or self.sim

    def _login(self, db: Any, login: Any, password: Any) -> int | bool:
        """common.login / authenticate: the uid or False. A login that succeeds leaves a
        res.users.log row (res_users.py _login -> _update_last_login), as Odoo's does."""
        sim = self._sim_for(db)
        uid = sim.login(db, login, password)
        if uid:
            with sim.db.transaction():
                sim.env(int(uid)).sudo()["res.users"]._update_last_login()  # type: ignore[attr-defined]
        return uid

    # -- JSON-RPC -------------------------------------------------------------------------

    async def _dispatch_rpc(self, protocol: str, service: Any, method: Any, params: Any) -> Any:
        """odoo/http.py dispatch_rpc over odoo/service/{common,db,model}.py."""
        sim = self.sim
        if not isinstance(params, list | tuple):
            raise TypeError(f"{type(params).__name__!r} object is not subscriptable")
        params = list(params)
        if service == "common":
            if method == "version":
                return await self._run(protocol, None, "version", lambda _s: (sim.version(), []))
            if method == "login":
                db, login, password = params[0], params[1], params[2]
                return await self._run(
                    protocol, None, "login", lambda _s: (self._login(db, login, password), [])
                )
            if method == "authenticate":
                db, login, password = params[0], params[1], params[2]
                return await self._run(
                    protocol, None, "authenticate",
                    lambda _s: (self._login(db, login, password), []),
                )  # fmt: skip
            if method == "about":
                return await self._run(protocol, None, "about", lambda _s: (
                    "See http://openerp.com", []))  # fmt: skip
            raise KeyError(f"exp_{method}")
        if service == "db":
            return await self._run(protocol, None, f"db.{method}", lambda _s: (
                self._db_service(method, params), []))  # fmt: skip
        if service == "object":
            if method not in ("execute", "execute_kw"):
                raise NameError(f"Method not available {method}")
            db, uid_raw, password = params[0], params[1], params[2]
            target = self._sim_for(db)
            uid = target.check_credentials(db, uid_raw, password)
            model, name = params[3], params[4]
            if method == "execute":
                args, kwargs = params[5:], dict[str, Any]()
            else:
                args = params[5] if len(params) > 5 else []
                kwargs = params[6] if len(params) > 6 else {}
            return await self._run(
                protocol, str(model), str(name),
                lambda serialization: target.execute(uid, model, name, args, kwargs, serialization),
            )  # fmt: skip
        raise KeyError(service)

    def _db_service(self, method: Any, params: list[Any]) -> Any:
        """odoo/service/db.py dispatch, over this server's databases (databases.py)."""
        return self.dbs.dispatch(method, params)

    async def jsonrpc(self, request: Request) -> Response:
        if _mimetype(request) not in JSON_MIMETYPES:
            return self._wrong_type(request)
        body = await request.body()
        try:
            data = json.loads(body)
        except ValueError:
            return html_response(400, "Invalid JSON data")
        if not isinstance(data, dict):
            return html_response(400, "Invalid JSON-RPC data")
        request_id = data.get("id")
        try:
            params = data.get("params", {})
            if not isinstance(params, dict):
                raise TypeError(f"'{type(params).__name__}' object is not a mapping")
            missing = [k for k in ("service", "method", "args") if k not in params]
            if missing:
                raise TypeError(
                    f"JSONRPC.jsonrpc() missing {len(missing)} required positional argument"
                    f"{'s' if len(missing) > 1 else ''}: " + " and ".join(repr(m) for m in missing)
                )
            result = await self._dispatch_rpc(
                "jsonrpc", params["service"], params["method"], params["args"]
            )
            if isinstance(result, Response):
                return result
            return jsonrpc_envelope(request_id, result)
        except Exception as exc:
            return jsonrpc_envelope(request_id, error=jsonrpc_error(exc, self.major))

    # -- XML-RPC --------------------------------------------------------------------------

    async def xmlrpc(self, request: Request) -> Response:
        legacy = "/xmlrpc/2/" not in request.url.path
        service = request.path_params["service"]
        body = await request.body()
        try:
            params, method = xmlrpc.client.loads(body, use_datetime=True)
            result = await self._dispatch_rpc(
                "xmlrpc" if legacy else "xmlrpc2", service, method, params
            )
            if isinstance(result, Response):
                return result
            text = xmlrpc_dumps((result,))
        except Exception as exc:
            fault = xmlrpc_fault_string(exc) if legacy else xmlrpc_fault_int(exc)
            text = xmlrpc_dumps(fault)
        return Response(text, media_type="text/xml")

    # -- JSON-2 ---------------------------------------------------------------------------

    def _json2_error(self, exc: BaseException) -> Response:
        """odoo/http.py Json2Dispatcher.handle_error."""
        body = serialize_exception(exc, self.major)
        if isinstance(exc, HTTPError):
            return json_response(body, exc.code, exc.headers)
        if isinstance(exc, OdooError):
            return json_response(body, exc.http_status)
        return json_response(body, 500)

    def _bearer_uid(self, request: Request) -> int:
        """ir.http _auth_method_bearer."""
        header = request.headers.get("authorization")
        match = BEARER.match(header or "")
        if match:
            uid = self.sim.uid_for_api_key(match.group(1).strip())
            if not uid:
                raise Unauthorized("Invalid apikey")
            return uid
        session = self._session(request)
        if session is None:
            raise Unauthorized('User not authenticated, use the "Authorization" header')
        headers = request.headers
        if not (
            headers.get("sec-fetch-dest") == "document"
            and headers.get("sec-fetch-mode") == "navigate"
            and headers.get("sec-fetch-site") in ("none", "same-origin")
            and headers.get("sec-fetch-user") == "?1"
        ):
            raise AccessDenied('Missing "Authorization" or Sec-headers for interactive usage')
        return session.uid

    def _db_header_ok(self, request: Request) -> bool:
        header = request.headers.get("x-odoo-database")
        return header is None or header == self.sim.config.db

    async def json2(self, request: Request) -> Response:
        if request.method != "POST" or self.major < 19:
            return await self.fallback(request)
        body = await request.body()
        if body and _mimetype(request) != "application/json":
            return self._wrong_type(request)
        if not self._db_header_ok(request):
            return html_response(404, NOT_FOUND_HTML)
        model = request.path_params["model"]
        method = request.path_params["method"]
        try:
            uid = self._bearer_uid(request)
            params: dict[str, Any] = {}
            if body:
                try:
                    parsed = json.loads(body)
                except ValueError as exc:
                    raise BadRequest(f"could not parse the body as json: {exc.args[0]}") from exc
                if not isinstance(parsed, dict):
                    raise BadRequest("could not parse the body, expecting a json object")
                params = {k: v for k, v in parsed.items() if k not in ("model", "method")}
            result = await self._run(
                "json2", model, method,
                lambda serialization: self.sim.execute(
                    uid, model, method, [], params, serialization, json2_call
                ),
            )  # fmt: skip
        except Exception as exc:
            return self._json2_error(exc)
        if isinstance(result, Response):
            return result
        return json_response(result)

    async def json2_hint(self, request: Request) -> Response:
        if self.major < 19:
            return await self.fallback(request)
        return self._json2_error(NotFound("Did you mean POST /json/2/<model>/<method>?"))

    # -- /doc -----------------------------------------------------------------------------

    def _doc_model(self, uid: int, model_name: str) -> dict[str, Any]:
        """addons/api_doc/controllers/api_doc.py doc_model: fields and method signatures."""
        with self.sim.db.lock:
            env = self.sim.env(uid)
            if not env.has_access("res.users", "read") or env.ref_id(
                "api_doc.group_allow_doc"
            ) not in self._groups(env):
                raise AccessError("This page is only accessible to API Doc users.")
            if model_name not in env:
                raise NotFound()
            rec = env[model_name]
            env.check_access(rec._spec, "read")
            methods = {}
            for name in dir(type(rec)):
                if name.startswith("_"):
                    continue
                func = getattr(type(rec), name)
                if not callable(func) or getattr(func, "_api_private", False):
                    continue
                methods[name] = self._doc_method(rec, name, func)
            return {
                "model": model_name,
                "name": rec._spec.description,
                "doc": None,
                "fields": {
                    fname: {**desc, "module": rec._spec.module}
                    for fname, desc in rec.fields_get().items()
                },
                "methods": methods,
            }

    def _groups(self, env: Env) -> set[int]:
        rows = env.db.execute("SELECT gid FROM res_groups_users_rel WHERE uid = ?", (env.uid,))
        return {row[0] for row in rows}

    @staticmethod
    def _doc_method(rec: BaseModel, name: str, func: Callable[..., Any]) -> dict[str, Any]:
        """api_doc parse_signature: parameters in declaration order, 'model' for @api.model."""
        signature = inspect.signature(func)
        parameters: dict[str, Any] = {}
        for pname, param in list(signature.parameters.items())[1:]:
            entry: dict[str, Any] = {"name": pname}
            if param.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
                entry["kind"] = param.kind.name
            if param.default is not inspect.Parameter.empty:
                entry["default"] = param.default
            if param.annotation is not inspect.Parameter.empty:
                entry["annotation"] = str(param.annotation)
            parameters[pname] = entry
        api = [flag for flag, attr in (("model", "_api_model"), ("readonly", "_readonly"))
               if getattr(func, attr, False)]  # fmt: skip
        owner = next((c for c in type(rec).__mro__ if name in vars(c)), type(rec))
        return {
            "signature": f"({', '.join(list(signature.parameters)[1:])})",
            "parameters": parameters,
            "return": {"annotation": str(signature.return_annotation)},
            "api": api,
            "model": "core" if owner.__name__ == "BaseModel" else rec._name,
            "module": "core" if owner.__name__ == "BaseModel" else rec._spec.module,
        }

    async def doc_bearer(self, request: Request) -> Response:
        if self.major < 19:
            return await self.fallback(request)
        try:
            uid = self._bearer_uid(request)
            self.sim.count("doc", request.path_params["model"], "doc")
            if request.path_params["model"] == "index":
                return json_response(self._doc_index(uid))
            return json_response(self._doc_model(uid, request.path_params["model"]))
        except Exception as exc:
            return self._json2_error(exc)

    async def doc_session(self, request: Request) -> Response:
        if self.major < 19:
            return await self.fallback(request)
        try:
            session = self._session(request)
            if session is None:
                raise SessionExpired()
            if request.path_params["model"] == "index":
                return json_response(self._doc_index(session.uid))
            return json_response(self._doc_model(session.uid, request.path_params["model"]))
        except Exception as exc:
            return self._json2_error(exc)

    def _doc_index(self, uid: int) -> dict[str, Any]:
        with self.sim.db.lock:
            env = self.sim.env(uid)
            models = [
                {"model": name, "name": spec.description,
                 "fields": {f: {"string": fld.string} for f, fld in spec.fields.items()},
                 "methods": sorted(n for n in dir(env.classes[name]) if not n.startswith("_")
                                   and callable(getattr(env.classes[name], n))
                                   and not getattr(getattr(env.classes[name], n),
                                                   "_api_private", False))}
                for name, spec in self.sim.registry.items() if env.has_access(name, "read")
            ]  # fmt: skip
        return {"modules": sorted({s.module for s in self.sim.registry.values()}), "models": models}

    # -- web client routes ----------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        sid = request.cookies.get("session_id")
        return self.sim.sessions.get(sid) if sid else None

    async def _web_json(self, request: Request) -> tuple[Any, dict[str, Any]] | Response:
        if _mimetype(request) not in JSON_MIMETYPES:
            return self._wrong_type(request)
        try:
            data = json.loads(await request.body())
        except ValueError:
            return html_response(400, "Invalid JSON data")
        if not isinstance(data, dict):
            return html_response(400, "Invalid JSON-RPC data")
        params = data.get("params", {})
        return data.get("id"), params if isinstance(params, dict) else {}

    async def version_info(self, request: Request) -> Response:
        parsed = await self._web_json(request)
        if isinstance(parsed, Response):
            return parsed
        result = await self._run("web", None, "version_info", lambda _s: (self.sim.version(), []))
        if isinstance(result, Response):
            return result
        return jsonrpc_envelope(parsed[0], result)

    async def database_list(self, request: Request) -> Response:
        parsed = await self._web_json(request)
        if isinstance(parsed, Response):
            return parsed
        try:
            result = await self._run("web", None, "database.list", lambda _s: (
                self._db_service("list", []), []))  # fmt: skip
        except Exception as exc:
            return jsonrpc_envelope(parsed[0], error=jsonrpc_error(exc, self.major))
        if isinstance(result, Response):
            return result
        return jsonrpc_envelope(parsed[0], result)

    def _session_info(self, session: Session) -> dict[str, Any]:
        sim = self._sim_for(session.db)
        with sim.db.lock:
            env = sim.env(session.uid)
            user = (
                env["res.users"]
                .sudo()
                .browse([session.uid])
                .read(["name", "partner_id", "company_id"])[0]
            )
            is_system = env.ref_id("base.group_system") in self._groups(env)
            context = env["res.users"].context_get()  # type: ignore[attr-defined]
        return {
            "uid": session.uid,
            "is_system": is_system,
            "is_admin": is_system,
            "user_context": context,
            "db": session.db,
            "server_version": self.sim.server_version,
            "server_version_info": self.sim.version()["server_version_info"],
            "name": user["name"],
            "username": session.login,
            "partner_display_name": user["partner_id"][1] if user["partner_id"] else "",
            "partner_id": user["partner_id"][0] if user["partner_id"] else False,
            "company_id": user["company_id"][0] if user["company_id"] else False,
            "web.base.url": "",
        }

    async def session_authenticate(self, request: Request) -> Response:
        parsed = await self._web_json(request)
        if isinstance(parsed, Response):
            return parsed
        request_id, params = parsed
        self.sim.count("web", "-", "session.authenticate")
        try:
            uid = self._login(params.get("db"), params.get("login"), params.get("password"))
            if not uid:
                raise AccessDenied()
            sid = secrets.token_hex(20)
            session = Session(uid, str(params.get("login")), str(params.get("db")))
            self.sim.sessions[sid] = session
            response = jsonrpc_envelope(request_id, self._session_info(session))
            response.set_cookie("session_id", sid, httponly=True, path="/")
            return response
        except Exception as exc:
            return jsonrpc_envelope(request_id, error=jsonrpc_error(exc, self.major))

    async def session_destroy(self, request: Request) -> Response:
        parsed = await self._web_json(request)
        if isinstance(parsed, Response):
            return parsed
        sid = request.cookies.get("session_id")
        if sid:
            self.sim.sessions.pop(sid, None)
        response = jsonrpc_envelope(parsed[0], None)
        response.delete_cookie("session_id", path="/")
        return response

    async def session_info(self, request: Request) -> Response:
        parsed = await self._web_json(request)
        if isinstance(parsed, Response):
            return parsed
        session = self._session(request)
        if session is None:
            return jsonrpc_envelope(parsed[0], error=jsonrpc_error(SessionExpired(), self.major))
        return jsonrpc_envelope(parsed[0], self._session_info(session))

    async def call_kw(self, request: Request) -> Response:
        parsed = await self._web_json(request)
        if isinstance(parsed, Response):
            return parsed
        request_id, params = parsed
        try:
            session = self._session(request)
            if session is None:
                raise SessionExpired()
            model, method = params.get("model"), params.get("method")
            args, kwargs = params.get("args", []), params.get("kwargs", {})
            result = await self._run(
                "web", str(model), str(method),
                lambda serialization: self._sim_for(session.db).execute(
                    session.uid, model, method, args, kwargs, serialization, execute_kw=False
                ),
            )  # fmt: skip
        except Exception as exc:
            return jsonrpc_envelope(request_id, error=jsonrpc_error(exc, self.major))
        if isinstance(result, Response):
            return result
        return jsonrpc_envelope(request_id, result)

    async def web_version(self, request: Request) -> Response:
        info = self.sim.version()
        return json_response(
            {"version_info": info["server_version_info"], "version": info["server_version"]}
        )

    async def company_logo(self, request: Request) -> Response:
        """addons/web/controllers/binary.py company_logo (auth='none', cors='*'): the logo of
        the requesting user's company, or of `?company=<id>`; superuser's company without a
        session. No database resolved: web's logo.png; a company without a logo: nologo.png;
        anything going wrong: logo.png again."""
        session = self._session(request)
        requested = request.query_params.get("db")
        sim = self.dbs.get(requested) if requested else None
        if sim is None and session is not None:
            sim = self.dbs.get(session.db)
        if sim is None:
            sim = self.dbs.monodb()
        if sim is None:
            return self._image(PLACEHOLDER_LOGO, "image/png", "logo.png")
        try:
            company = request.query_params.get("company")
            uid = session.uid if session is not None and session.db == sim.config.db else None
            with sim.db.lock:
                if company:
                    row = sim.db.execute(
                        "SELECT p.image_1920, c.write_date FROM res_company c "
                        "JOIN res_partner p ON p.id = c.partner_id WHERE c.id = ?",
                        (int(company),),
                    ).fetchone()
                else:
                    row = sim.db.execute(
                        "SELECT p.image_1920, c.write_date FROM res_users u "
                        "LEFT JOIN res_company c ON c.id = u.company_id "
                        "LEFT JOIN res_partner p ON p.id = c.partner_id WHERE u.id = ?",
                        (uid or SUPERUSER_ID,),
                    ).fetchone()
            if not row or not row[0]:
                return self._image(PLACEHOLDER_NOLOGO, "image/png", "nologo.png")
            image = base64.b64decode(row[0])
            mimetype = guess_image_mimetype(image)
            extension = "svg" if mimetype == "image/svg+xml" else mimetype.split("/")[1]
            modified = datetime.fromisoformat(f"{row[1]}+00:00") if row[1] else None
            return self._image(image, mimetype, f"logo.{extension}", modified)
        except Exception:  # the route falls back to the placeholder on any error, as Odoo's
            return self._image(PLACEHOLDER_LOGO, "image/png", "logo.png")

    @staticmethod
    def _image(
        content: bytes, mimetype: str, filename: str, modified: datetime | None = None
    ) -> Response:
        headers = {
            "Content-Disposition": f"inline; filename={filename}",
            "Access-Control-Allow-Origin": "*",
        }
        if modified is not None:
            headers["Last-Modified"] = format_datetime(modified, usegmt=True)
        return Response(content, media_type=mimetype, headers=headers)

    async def landing(self, request: Request) -> Response:
        legacy = request.url.path == "/web"  # an old /web#model=...&id=... record link
        return html_response(200, web_pages.landing(self.sim, legacy_redirect=legacy))

    async def record(self, request: Request) -> Response:
        model, record_id = request.path_params["model"], request.path_params["record_id"]
        page = web_pages.record(self.sim, model, record_id)
        return html_response(404, NOT_FOUND_HTML) if page is None else html_response(200, page)

    # -- fallbacks ------------------------------------------------------------------------

    def _wrong_type(self, request: Request) -> Response:
        """odoo/http.py: a route whose type does not match the request's Content-Type."""
        return html_response(
            415,
            "<!doctype html>\n<title>415 Unsupported Media Type</title>\n"
            f"<p>Request inferred type is compatible with ['http'] but {request.url.path!r} "
            "is type='json'.</p>",
        )

    async def fallback(self, request: Request) -> Response:
        """No route: a JSON-RPC 404 error for JSON requests, an HTML 404 page otherwise."""
        if _mimetype(request) in JSON_MIMETYPES:
            request_id = None
            try:
                data = json.loads(await request.body())
                if isinstance(data, dict):
                    request_id = data.get("id")
            except ValueError:
                pass
            return jsonrpc_envelope(request_id, error=jsonrpc_error(NotFound(), self.major))
        return html_response(404, NOT_FOUND_HTML)

    # -- admin ----------------------------------------------------------------------------

    async def admin_faults(self, request: Request) -> Response:
        if request.method in ("PUT", "POST"):
            body = await request.body()
            spec: Any = body.decode("utf-8", "replace")
            if _mimetype(request) == "application/json":
                try:
                    spec = json.loads(body).get("spec", "")
                except (ValueError, AttributeError):
                    return json_response({"error": 'expected {"spec": "..."}'}, 400)
            try:
                self.sim.set_faults(str(spec or ""))
            except FaultSpecError as exc:
                return json_response({"error": str(exc)}, 400)
        elif request.method == "DELETE":
            self.sim.set_faults("")
        plan = self.sim.faults
        return json_response({"spec": plan.spec, "seed": plan.seed})

    async def admin_calls(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sim.reset_counts()
        return json_response(self.sim.call_counts())

    async def admin_webhooks(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = json.loads(await request.body())
                if not isinstance(spec, dict):
                    raise ValueError("expected a JSON object")
                created = self.sim.add_automation(spec)
            except (ValueError, UserError) as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response(created, 201)
        if request.method == "DELETE":
            self.sim.deliveries.clear()
        with self.sim.db.lock:
            rows = self.sim.db.execute(
                "SELECT a.id, a.name, m.model, a.trigger, a.filter_domain, s.id, s.webhook_url "
                "FROM base_automation a JOIN ir_model m ON m.id = a.model_id "
                "JOIN ir_actions_server s ON s.base_automation_id = a.id WHERE s.state = 'webhook'"
            ).fetchall()
        rules = [
            {"automation_id": r[0], "name": r[1], "model": r[2], "trigger": r[3],
             "filter_domain": r[4], "action_id": r[5], "url": r[6]}
            for r in rows
        ]  # fmt: skip
        return json_response({"automations": rules, "deliveries": list(self.sim.deliveries)})

    async def admin_health(self, request: Request) -> Response:
        return json_response(
            {"status": "ok", "db": self.sim.config.db, "version": self.sim.server_version}
        )

    async def guard(self, request: Request, handler: Callable[[Request], Any]) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_CONTENT_LENGTH:
            return html_response(413, "<title>413 Request Entity Too Large</title>")
        response: Response = await handler(request)
        return response

    def build(self) -> Starlette:
        def route(path: str, handler: Callable[[Request], Any], methods: list[str]) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self.guard(request, handler)

            return Route(path, endpoint, methods=methods)

        any_method = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
        routes = [
            route("/jsonrpc", self.jsonrpc, ["POST"]),
            route("/xmlrpc/2/{service}", self.xmlrpc, ["POST"]),
            route("/xmlrpc/{service}", self.xmlrpc, ["POST"]),
            route("/json/2/{model}/{method}", self.json2, any_method),
            route("/json/2", self.json2_hint, any_method),
            route("/json/2/{path:path}", self.json2_hint, any_method),
            route("/doc-bearer/{model}.json", self.doc_bearer, ["GET"]),
            route("/doc/{model}.json", self.doc_session, ["GET"]),
            route("/web/webclient/version_info", self.version_info, ["POST"]),
            route("/web/database/list", self.database_list, ["POST"]),
            route("/web/session/authenticate", self.session_authenticate, ["POST"]),
            route("/web/session/destroy", self.session_destroy, ["POST"]),
            route("/web/session/get_session_info", self.session_info, ["POST"]),
            route("/web/dataset/call_kw", self.call_kw, ["POST"]),
            route("/web/dataset/call_kw/{path:path}", self.call_kw, ["POST"]),
            route("/web/version", self.web_version, ["GET"]),
            route("/web/binary/company_logo", self.company_logo, ["GET", "HEAD", "POST"]),
            route("/logo", self.company_logo, ["GET", "HEAD", "POST"]),
            route("/logo.png", self.company_logo, ["GET", "HEAD", "POST"]),
            route("/json/version", self.web_version, ["GET"]),
            route("/", self.landing, ["GET"]),
            route("/web", self.landing, ["GET"]),
            route("/odoo", self.landing, ["GET"]),
            route("/odoo/{model}/{record_id:int}", self.record, ["GET"]),
            route("/__sim/faults", self.admin_faults, ["GET", "PUT", "POST", "DELETE"]),
            route("/__sim/calls", self.admin_calls, ["GET", "DELETE"]),
            route("/__sim/webhooks", self.admin_webhooks, ["GET", "POST", "DELETE"]),
            route("/__sim/health", self.admin_health, ["GET"]),
            route("/{path:path}", self.fallback, any_method),
        ]

        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            yield
            await self.aclose()

        return Starlette(routes=routes, lifespan=lifespan)


def create_app(sim: OdooSim) -> Starlette:
    return SimApp(sim).build()
