"""What the partner simulators (TMS, WMS, customs broker, customer portal) share.

Each of them is a real HTTP server that receives work, plays out a script in the
background and reports to the hub like the real system would. The parts that are the
same for all of them live here, so that each simulator's module reads as its own story:

- `HubLink`: where a simulator reports to (hub URL, partner name, its webhook secret and
  bearer token, both from `env:`/`file:` references like the hub's own configuration) and
  how: Standard Webhooks signed JSON to `POST /v1/webhooks/{partner}`, raw X12 to
  `POST /v1/edi/{partner}` (signed, or with the bearer token) and canonical events to
  `POST /v1/events` (bearer token). It retries what a
  partner would retry (connection errors, 5xx, 429 with `Retry-After`) and keeps a log of
  every report, so a test sees what was sent and what the hub answered.
- `Background`: the asyncio tasks a script runs after answering a request, cancelled
  when the server stops.
- request plumbing: a bounded body read, JSON error bodies naming the problem, the
  optional check of the hub's signature on what it sends to a simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.api import http as api_http
from intermodal.api.errors import ApiError
from intermodal.ingress.signatures import SignatureError, sign, verify
from intermodal.security.secrets import Secret, resolve_secret, webhook_key

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024
"""Bodies above this are refused with 413: a simulator holds everything in memory."""

Channel = Literal["webhook", "edi", "events", "document"]


class BadRequest(Exception):
    """A request the simulator refuses, with the HTTP status and a message naming why."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(exc: BadRequest) -> Response:
    """`{"error": {"code", "message", "details"}}`, the hub's own error shape."""
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message, "details": exc.details or []}},
        exc.status,
    )


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The hub's bounded body read (a 413 past `limit`), answered in the simulators' way."""
    try:
        return await api_http.read_body(request, limit)
    except ApiError as exc:
        raise BadRequest(exc.status, exc.code, exc.message) from None


def decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "bad_json", f"body is not valid JSON: {exc}") from None


def validate(model: type[M], value: Any) -> M:
    """Validate a decoded body; a 422 naming each bad field otherwise."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        details = [
            {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = details[0] if details else {"loc": "", "msg": "invalid"}
        raise BadRequest(
            422, "invalid", f"{first['loc'] or 'body'}: {first['msg']}", details
        ) from None


def webhook_key_of(value: str) -> bytes:
    """The HMAC key of a literal `whsec_...` secret (tests and generated demo secrets)."""
    return webhook_key(Secret(value, origin="simulator"))


def resolve_webhook_key(reference: str, base_dir: Path | None = None) -> bytes:
    """An `env:`/`file:` reference to a webhook secret, as the hub reads its own."""
    return webhook_key(resolve_secret(reference, base_dir))


def resolve_token(reference: str, base_dir: Path | None = None) -> str:
    return resolve_secret(reference, base_dir).value


class InboundAuth:
    """Checks the hub's Standard Webhooks signature on what it sends to a simulator.

    With no keys every request is let in (a simulator run without the hub's secret); with
    keys, each request must carry a valid, fresh signature by one of them.
    """

    def __init__(self, keys: Sequence[bytes] = (), tolerance: int = 300) -> None:
        self.keys = tuple(keys)
        self.tolerance = tolerance

    def check(self, request: Request, body: bytes) -> None:
        if not self.keys:
            return
        headers = request.headers
        try:
            verify(
                self.keys,
                headers.get("webhook-id"),
                headers.get("webhook-timestamp"),
                headers.get("webhook-signature"),
                body,
                tolerance=self.tolerance,
            )
        except SignatureError as exc:
            code = "bad_signature" if exc.status == 401 else "bad_request"
            raise BadRequest(exc.status, code, str(exc)) from None


@dataclass
class Report:
    """One message a simulator sent (or tried to send) to the hub, and how it went."""

    message_id: str
    channel: Channel
    kind: str
    subject: str | None
    status: int | None = None
    attempts: int = 0
    error: str | None = None
    answer: Any = None
    at: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "delivered": self.delivered}


@dataclass
class HubLink:
    """Where a simulator reports to, and the log of what it reported.

    `hub_url` None means standalone: reports are logged (status None) but not sent, so a
    simulator can be explored with curl before a hub is wired to it.
    """

    hub_url: str | None
    partner: str
    key: bytes | None = None
    """HMAC key of the partner's webhook secret; signs webhooks and EDI posts."""
    token: str | None = None
    """Bearer token (scope events:write) for EDI posts when the link has no key."""
    attempts: int = 6
    backoff_seconds: float = 0.2
    timeout_seconds: float = 10.0
    reports: list[Report] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _client: httpx.AsyncClient | None = field(default=None, repr=False)
    _client_loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    async def webhook(
        self, message_id: str, payload: Any, kind: str, subject: str | None = None
    ) -> Report:
        """Signed JSON to `POST /v1/webhooks/{partner}`; the webhook-id is `message_id`, so a
        resent report is recognised by the hub as the same message."""
        body = orjson.dumps(payload)
        return await self._send(
            Report(message_id, "webhook", kind, subject),
            f"/v1/webhooks/{self.partner}",
            body,
            "application/json",
            signed=True,
        )

    async def events(
        self, message_id: str, events: list[Any], kind: str, subject: str | None = None
    ) -> Report:
        """Canonical CloudEvents (an array) to `POST /v1/events` with the bearer token; the
        hub keeps each event once by its id, so a resent batch is stored once."""
        return await self._send(
            Report(message_id, "events", kind, subject),
            "/v1/events",
            orjson.dumps(events),
            "application/json",
            signed=False,
        )

    async def edi(self, message_id: str, document: bytes, kind: str, subject: str | None) -> Report:
        """Raw X12 to `POST /v1/edi/{partner}`: signed when the link has a key, else with
        the bearer token."""
        return await self._send(
            Report(message_id, "edi", kind, subject),
            f"/v1/edi/{self.partner}",
            document,
            "application/edi-x12",
            signed=self.key is not None,
        )

    async def document(
        self, message_id: str, body: bytes, content_type: str, kind: str, subject: str | None,
        filename: str | None = None,
    ) -> Report:  # fmt: skip
        """A file (a proof of delivery, a freight invoice) to `POST /v1/documents/{partner}`:
        signed when the link has a key, else with the bearer token; `kind` is `pod` or
        `invoice`."""
        headers = {"x-document-kind": kind}
        if filename:
            headers["x-document-filename"] = filename
        if self.key is None:
            headers["idempotency-key"] = message_id
        return await self._send(
            Report(message_id, "document", kind, subject),
            f"/v1/documents/{self.partner}",
            body,
            content_type,
            signed=self.key is not None,
            headers=headers,
        )

    async def _send(
        self, report: Report, path: str, body: bytes, content_type: str, signed: bool,
        headers: dict[str, str] | None = None,
    ) -> Report:  # fmt: skip
        report.at = datetime.now(UTC).isoformat()
        with self.lock:
            self.reports.append(report)
        if self.hub_url is None:
            report.error = "standalone: no hub URL configured"
            return report
        if signed and self.key is None:
            report.error = "no webhook secret configured for this partner"
            return report
        if not signed and self.token is None:
            report.error = "no bearer token configured for this partner"
            return report
        url = self.hub_url.rstrip("/") + path
        client = self._client_for_this_loop()
        for attempt in range(1, self.attempts + 1):
            report.attempts = attempt
            sent = {"content-type": content_type, "x-correlation-id": report.message_id}
            sent.update(headers or {})
            if signed and self.key is not None:
                timestamp = int(time.time())
                sent["webhook-id"] = report.message_id
                sent["webhook-timestamp"] = str(timestamp)
                sent["webhook-signature"] = sign(self.key, report.message_id, timestamp, body)
            else:
                sent["authorization"] = f"Bearer {self.token}"
            wait = self.backoff_seconds * 2 ** (attempt - 1)
            try:
                response = await client.post(url, content=body, headers=sent)
            except httpx.HTTPError as exc:
                report.status, report.error = None, f"{type(exc).__name__}: {exc}"[:300]
            else:
                report.status = response.status_code
                try:
                    report.answer = response.json()
                except ValueError:
                    report.answer = response.text[:300]
                if response.status_code < 500 and response.status_code != 429:
                    report.error = None if report.delivered else str(report.answer)[:300]
                    return report
                report.error = f"HTTP {response.status_code}"
                wait = max(wait, _retry_after(response.headers.get("retry-after")))
            if attempt < self.attempts:
                await asyncio.sleep(min(wait, 10.0))
        return report

    def _client_for_this_loop(self) -> httpx.AsyncClient:
        """One client (one connection pool, one TLS context) per event loop: building a
        client costs more than a loopback request, and a client cannot cross loops."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None

    def log(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.to_json() for r in self.reports]


def _retry_after(value: str | None) -> float:
    if value is None or not value.strip().isdigit():
        return 0.0
    return float(min(int(value.strip()), 30))


class Background:
    """Tasks a simulator runs after answering; held so they are neither garbage-collected
    mid-flight nor left running when the server stops."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures = 0
        """Scripts that ended in an exception (logged): a test can assert there were none."""
        self.closers: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.failures += 1
            log.error("simulator script failed", exc_info=error)

    @property
    def busy(self) -> int:
        return sum(1 for t in self.tasks if not t.done())

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for task in list(self.tasks):
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            for close in self.closers:
                await close()


class PartnerSimulator:
    """What every simulator that reports to the hub holds: the link it reports through,
    the check of what the hub sends it, its background scripts and its clock."""

    def __init__(self, link: HubLink, inbound: InboundAuth | None = None) -> None:
        self.link = link
        self.inbound = inbound or InboundAuth()
        self.background = Background()
        self.background.closers.append(link.aclose)
        self.clock = StepClock()


def inspection_routes(
    name: str, snapshot: Callable[[], dict[str, Any]], background: Background, link: HubLink
) -> list[Route]:
    """`GET /_sim/<name>` (the simulator's ledger, with its busy and failed scripts) and
    `GET /_sim/sent` (every report and the hub's answer): what every simulator shows."""

    async def ledger(_request: Request) -> Response:
        return JSONResponse(
            {**snapshot(), "busy": background.busy, "failures": background.failures}
        )

    async def sent(_request: Request) -> Response:
        return JSONResponse({"sent": link.log()})

    return [
        Route(f"/_sim/{name}", ledger, methods=["GET"]),
        Route("/_sim/sent", sent, methods=["GET"]),
    ]


class StepClock:
    """Event times a simulator reports: the wall clock to the second, strictly increasing
    per subject, so two steps taken within one second never share a timestamp (X12 times
    carry seconds at most)."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.now = now or (lambda: datetime.now(UTC))
        self.last: dict[str, datetime] = {}
        self.lock = threading.Lock()

    def tick(self, subject: str) -> datetime:
        with self.lock:
            at = self.now().astimezone(UTC).replace(microsecond=0)
            previous = self.last.get(subject)
            if previous is not None and at <= previous:
                at = previous + timedelta(seconds=1)
            self.last[subject] = at
            return at


def iso_z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shipment_key_of(event: Any) -> str | None:
    """The shipment key in a CloudEvent the hub sent: `data.shipment.key` (a dispatch job),
    `data.key` (a canonical Shipment) or the event's `subject`."""
    if not isinstance(event, dict):
        return None
    data = event.get("data")
    if isinstance(data, dict):
        shipment = data.get("shipment")
        for holder in (shipment if isinstance(shipment, dict) else {}, data):
            if isinstance(holder.get("key"), str) and holder["key"]:
                return str(holder["key"])
    subject = event.get("subject")
    return subject if isinstance(subject, str) and subject else None


def is_cloudevent(value: Any) -> bool:
    return isinstance(value, dict) and value.get("specversion") == "1.0"
