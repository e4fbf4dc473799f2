"""Sinks: how a batch of commands reaches one kind of endpoint.

The dispatcher owns everything common to all endpoints (claiming, leases, retry timing,
breakers, rate limits, dead letters); a sink only delivers and says, per command, whether
it worked and, if not, whether trying again could help. Adding a kind of endpoint (Odoo,
a TMS, an SFTP drop) is adding a sink and a `SinkKind` row to the table the hub is
assembled with (`intermodal.wiring.SINK_KINDS`), never editing the dispatcher. The table is
data handed to the dispatcher, not a registry filled by imports: the outbox knows no
connector, and reading the table tells every kind there is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from intermodal.config import Endpoint
from intermodal.ingress.signatures import sign_all
from intermodal.observe import traces
from intermodal.observe.logs import safe_url
from intermodal.outbox.policy import retry_after_seconds
from intermodal.security.secrets import SecretError, resolve_secret

_Options = TypeVar("_Options", bound=BaseModel)


def endpoint_options(model: type[_Options], endpoint: Endpoint) -> _Options:
    """An endpoint's `options`, validated by its kind's model; a ValueError names each bad
    field as `endpoints.<name>.options.<path>`, the form `intermodal serve` reports."""
    try:
        return model.model_validate(endpoint.options)
    except ValidationError as exc:
        raise ValueError(
            "; ".join(
                f"endpoints.{endpoint.name}.options.{'.'.join(str(p) for p in e['loc'])}:"
                f" {e['msg']}"
                for e in exc.errors(include_url=False)
            )
        ) from None


# Not frozen, like engine.inbox.InboxMessage: a frozen dataclass costs 4x to build, and
# a replay builds 100,000 (BENCHMARKS.md, W4). Sinks do not change them.
@dataclass(slots=True)
class ClaimedCommand:
    """An outbox row the dispatcher has claimed, as the sink delivering it sees it."""

    seq: int
    command_id: str
    endpoint: str
    kind: str
    subject: str | None
    payload: bytes
    correlation_id: str
    attempts: int
    # False only when no earlier delivery of this command can have reached
    # the endpoint: never claimed (no lease), never failed, never replayed. A sink that
    # must look for an earlier effect before creating something (Odoo notes) skips the
    # look-up then. A false True costs a look-up; a false False is impossible by the claim
    # protocol (every claim leaves a lease or a new next_attempt_at behind).
    maybe_sent: bool = True

    @classmethod
    def from_row(cls, row: Any) -> ClaimedCommand:
        return cls(
            seq=row.seq,
            command_id=row.command_id,
            endpoint=row.endpoint,
            kind=row.kind,
            subject=row.subject,
            payload=bytes(row.payload),
            correlation_id=row.correlation_id,
            attempts=row.attempts,
            maybe_sent=bool(
                row.attempts or row.lease_until is not None or row.next_attempt_at != row.created_at
            ),
        )


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A message the hub writes to its own inbox because delivering a command taught it
    something the flows must react to (Odoo did not validate a delivery it was asked to).
    The dispatcher stores it in the transaction that records the delivery; its
    (partner, message id) key makes a second delivery of the command add nothing."""

    partner: str
    channel: str
    message_id: str
    body: bytes


@dataclass(slots=True)
class Result:
    """What became of one command: delivered, or why not and whether to try again."""

    seq: int
    ok: bool
    error: str | None = None
    retryable: bool = True
    retry_after: float | None = None
    follow_ups: tuple[FollowUp, ...] = ()


class Sink(Protocol):
    async def deliver(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        """Deliver the commands (in order); one Result per command, same order."""
        ...

    async def aclose(self) -> None: ...


SinkFactory = Callable[[Endpoint, httpx.AsyncClient], Sink]
SinkCheck = Callable[[Endpoint], list[str]]
"""Problems with an endpoint's kind-specific options, run at start so mistakes stop the hub
early (each names its option)."""


def parse_check(parse: Callable[[Endpoint, Path | None], object]) -> SinkCheck:
    """The `SinkCheck` of a kind whose sink reads its options with `parse` (raising
    ValueError that names the option): the start-up check runs the very same parse."""

    def check(endpoint: Endpoint) -> list[str]:
        try:
            parse(endpoint, endpoint.base_dir)
        except ValueError as exc:
            return [str(exc)]
        return []

    return check


@dataclass(frozen=True, slots=True)
class SinkKind:
    """One kind of endpoint: how to build its sink, and how to check its options at start."""

    build: SinkFactory
    check: SinkCheck | None = None


SinkKinds = Mapping[str, SinkKind]
"""Endpoint kind (`endpoints.<name>.kind`) -> its `SinkKind`."""

_RETRYABLE_STATUS = frozenset({408, 425, 429})


_HEADER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_OWN_HEADERS = frozenset(
    {"content-type", "content-length", "host", "idempotency-key", "webhook-id",
     "webhook-timestamp", "webhook-signature", "x-correlation-id", "traceparent",
     "tracestate"}
)  # fmt: skip
"""Headers the webhook sink sets itself: `options.headers` may not replace them."""


class WebhookOptions(BaseModel):
    """A webhook endpoint's `options`."""

    model_config = ConfigDict(extra="forbid")

    headers: dict[
        Annotated[str, StringConstraints(pattern=_HEADER_NAME)],
        Annotated[str, StringConstraints(pattern=r"^(env|file):.+$")],
    ] = {}
    """Headers sent with every delivery, each value an env: or file: reference: how a
    receiver that wants an API key or a token gets one, never in the URL."""


def webhook_headers(endpoint: Endpoint, base_dir: Path | None) -> dict[str, str]:
    """The resolved `options.headers` of a webhook endpoint; a ValueError names each bad
    one (the same parse runs at start, `SinkKind.check`)."""
    options = endpoint_options(WebhookOptions, endpoint)
    headers, problems = {}, []
    for name, reference in options.headers.items():
        where = f"endpoints.{endpoint.name}.options.headers.{name}"
        if name.lower() in _OWN_HEADERS:
            problems.append(f"{where}: the hub sets this header itself")
            continue
        try:
            headers[name.lower()] = resolve_secret(reference, base_dir).value
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return headers


class WebhookSink:
    """Signed CloudEvents over HTTP POST; idempotency key = command id (or the batch's)."""

    def __init__(self, endpoint: Endpoint, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self.client = client
        self.headers = webhook_headers(endpoint, endpoint.base_dir)
        self.url = safe_url(endpoint.url)
        """The URL as spans name it (never credentials: the configuration refuses them)."""

    async def deliver(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        if len(commands) == 1:
            body = commands[0].payload
            content_type = "application/cloudevents+json"
            message_id = commands[0].command_id
        else:
            body = b"[" + b",".join(c.payload for c in commands) + b"]"
            content_type = "application/cloudevents-batch+json"
            message_id = "batch_" + commands[0].command_id.removeprefix("cmd_")
        timestamp = int(time.time())
        headers = {
            **self.headers,
            "content-type": content_type,
            "idempotency-key": message_id,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "x-correlation-id": commands[0].correlation_id,
        }
        if keys := self.endpoint.signing_keys:
            headers["webhook-signature"] = sign_all(keys, message_id, timestamp, body)
        attributes = {"http.request.method": "POST", "url.full": self.url}
        with traces.client_span("POST", attributes) as span:
            traces.inject(headers)
            try:
                response = await self.client.post(
                    self.endpoint.url,
                    content=body,
                    headers=headers,
                    timeout=self.endpoint.timeout_seconds,
                )
            except httpx.HTTPError as exc:
                return _all(commands, False, f"{type(exc).__name__}: {exc}"[:500], True, None)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
        status = response.status_code
        if 200 <= status < 300:
            return _all(commands, True, None, False, None)
        error = f"HTTP {status}: {response.text[:300]}"
        if status >= 500 or status in _RETRYABLE_STATUS:
            after = retry_after_seconds(response.headers.get("retry-after"))
            return _all(commands, False, error, True, after)
        # Any other 4xx: the receiver refuses these commands; retrying will not change that.
        return _all(commands, False, error, False, None)

    async def aclose(self) -> None:
        return None


def _all(
    commands: Sequence[ClaimedCommand],
    ok: bool,
    error: str | None,
    retryable: bool,
    after: float | None,
) -> list[Result]:
    return [Result(c.seq, ok, error, retryable, after) for c in commands]


def build_sink(kinds: SinkKinds, endpoint: Endpoint, client: httpx.AsyncClient) -> Sink:
    kind = kinds.get(endpoint.kind)
    if kind is None:
        known = ", ".join(sorted(kinds))
        raise ValueError(
            f"endpoint '{endpoint.name}': unknown kind '{endpoint.kind}' (known: {known})"
        )
    return kind.build(endpoint, client)


def endpoint_problems(kinds: SinkKinds, endpoints: Mapping[str, Endpoint]) -> list[str]:
    """Configuration problems of the endpoints: unknown kinds, bad kind-specific options."""
    known = ", ".join(sorted(kinds))
    problems = []
    for name, e in endpoints.items():
        kind = kinds.get(e.kind)
        if kind is None:
            problems.append(f"endpoints.{name}.kind: unknown kind '{e.kind}' (known: {known})")
        elif kind.check is not None:
            problems.extend(kind.check(e))
    return problems
