"""The `nats` endpoint kind: each command is a message on a JetStream stream.

The `nats` row of the hub's endpoint kinds (`intermodal.wiring.SINK_KINDS`). An endpoint of
this kind subscribes like a customer notification endpoint (`events`, `milestones`,
`subjects`, `customers`, workflows/notifications.py), so it receives canonical events as
CloudEvents. Configuration (`options` validated by `NatsOptions`):

    endpoints:
      events-out:
        kind: nats
        url: nats://127.0.0.1:4222          # or tls://; several servers: comma-separated
        events: [milestone, pod.received, charge.recorded, customs.updated]
        batch_size: 100
        options:
          stream: INTERMODAL                 # created if missing (create_stream: true)
          subject: intermodal.{partner}.{type}
          duplicate_window: 10m              # for a stream the hub creates
          user: hub                          # user + password, or token, or creds
          password: env:NATS_PASSWORD

The stream is created when missing, with the subject template's fixed first tokens and
`>` as its subjects, and never changed when it exists: operators who manage streams
themselves set `create_stream: false`. A message is delivered once JetStream acknowledges
it (stored on the stream); `Nats-Msg-Id` is the command id, so a resend within the stream's
duplicate window is acknowledged as a duplicate and not stored twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client, RawCredentials
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intermodal.config import Duration, Endpoint, SecretRef
from intermodal.errors import Unavailable
from intermodal.observe import traces
from intermodal.outbox.sinks import ClaimedCommand, Result, endpoint_options
from intermodal.security.secrets import SecretError, resolve_secret

log = logging.getLogger(__name__)

PLACEHOLDERS = ("partner", "type", "subject", "endpoint")
"""What a subject template may name: the partner that asserted the event (`hub` for what
the hub decided itself, such as cases), the CloudEvent type without its `intermodal.`
prefix (`shipment.milestone`, `pod.received`), the shipment key, the endpoint's name."""

_TOKEN_UNSAFE = re.compile(r"[\s.*>]")
_TYPE_UNSAFE = re.compile(r"[\s*>]")
# JetStream's "expected stream does not match": the subject belongs to another stream.
_WRONG_STREAM = 10060


class NatsUnavailable(Unavailable):
    """NATS could not be reached (or the stream not made): the commands wait and retry."""


class NatsOptions(BaseModel):
    """`endpoints.<name>.options` of a `nats` endpoint."""

    model_config = ConfigDict(extra="forbid")

    stream: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,255}$")]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=255)] = (
        "intermodal.{partner}.{type}"
    )
    create_stream: bool = True
    duplicate_window: Duration = 600.0
    """Longer than JetStream's 2-minute default: a command whose claim outlived a crashed
    dispatcher is resent after the 120 s lease, and that resend must still be dropped."""
    max_age: Duration | None = None
    storage: Literal["file", "memory"] = "file"
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    user: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    password: SecretRef | None = None
    token: SecretRef | None = None
    creds: SecretRef | None = None
    """A `.creds` file (JWT and NKey seed), by reference: `file:/etc/intermodal/hub.creds`."""


@dataclass(frozen=True, slots=True)
class NatsAuth:
    """Resolved credentials: handed to the client, never logged (no repr of values)."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None

    def __repr__(self) -> str:
        given = [name for name in ("user", "password", "token", "creds") if getattr(self, name)]
        return f"NatsAuth(<{', '.join(given) or 'none'}>)"

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password
        if self.token is not None:
            kwargs["token"] = self.token
        if self.creds is not None:
            kwargs["user_credentials"] = RawCredentials(self.creds)
        return kwargs


def parse_options(endpoint: Endpoint, base_dir: Path | None = None) -> tuple[NatsOptions, NatsAuth]:
    """Validated options and resolved credentials; ValueError naming every bad field."""
    where = f"endpoints.{endpoint.name}"
    options = endpoint_options(NatsOptions, endpoint)
    problems = [*_url_problems(where, endpoint.url), *_template_problems(where, options.subject)]
    if options.token is not None and (options.user or options.password or options.creds):
        problems.append(f"{where}.options.token: give a token alone, or user/password, or creds")
    if (options.user is None) != (options.password is None):
        problems.append(f"{where}.options: 'user' and 'password' go together")
    if options.creds is not None and (options.user or options.password):
        problems.append(f"{where}.options.creds: give creds alone, or user/password")
    resolved: dict[str, str] = {}
    for name in ("password", "token", "creds"):
        ref = getattr(options, name)
        if ref is None:
            continue
        try:
            resolved[name] = resolve_secret(ref, base_dir).value
        except SecretError as exc:
            problems.append(f"{where}.options.{name}: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return options, NatsAuth(user=options.user, **resolved)


def _url_problems(where: str, url: str) -> list[str]:
    problems = []
    for server in url.split(","):
        server = server.strip()
        scheme, sep, rest = server.partition("://")
        if not sep or scheme not in ("nats", "tls") or not rest:
            problems.append(f"{where}.url: '{server}' is not a nats:// or tls:// server URL")
        elif "@" in rest:
            # Credentials in the URL would be written to the configuration file in clear.
            problems.append(f"{where}.url: no credentials in the URL; use options.user/password,"
                            " token or creds (env: or file: references)")  # fmt: skip
    return problems


def _template_problems(where: str, template: str) -> list[str]:
    try:
        names = [
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        ]
    except ValueError as exc:
        return [f"{where}.options.subject: {exc}"]
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        return [
            f"{where}.options.subject: unknown placeholder '{{{unknown[0]}}}'"
            f" (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        ]
    sample = template.format_map(dict.fromkeys(PLACEHOLDERS, "x"))
    tokens = sample.split(".")
    if any(not t or _TOKEN_UNSAFE.search(t) for t in tokens):
        return [
            f"{where}.options.subject: '{template}' is not a NATS subject (dot-separated"
            " tokens, no spaces or wildcards)"
        ]
    if not stream_subject(template):
        return [
            f"{where}.options.subject: start with a fixed token (e.g. 'intermodal.'), so the"
            " stream's subjects can be 'intermodal.>' rather than every subject there is"
        ]
    return []


def stream_subject(template: str) -> str:
    """The subjects a stream created for `template` listens on: its fixed tokens, then `>`."""
    tokens = template.split("{", 1)[0].split(".")[:-1]  # the last one may be partly variable
    return ".".join(tokens) + ".>" if tokens else ""


def render_subject(template: str, endpoint: str, command: ClaimedCommand) -> tuple[str, bool]:
    """The NATS subject of one command, and whether its payload is a CloudEvent."""
    partner, kind, cloudevent = "hub", command.kind, False
    try:
        event = orjson.loads(command.payload)
    except orjson.JSONDecodeError:
        event = None
    if isinstance(event, dict) and isinstance(event.get("type"), str):
        cloudevent = True
        kind = event["type"]
        if isinstance(event.get("assertedby"), str) and event["assertedby"]:
            partner = event["assertedby"]
    values = {
        "partner": _TOKEN_UNSAFE.sub("_", partner),
        "type": _TYPE_UNSAFE.sub("_", kind.removeprefix("intermodal.")).strip(".") or "_",
        "subject": _TOKEN_UNSAFE.sub("_", command.subject or "") or "_",
        "endpoint": _TOKEN_UNSAFE.sub("_", endpoint),
    }
    return template.format_map(values), cloudevent


class NatsSink:
    """Publishes commands to one JetStream stream over one connection, reconnecting."""

    def __init__(self, endpoint: Endpoint, _http: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self.options, self._auth = parse_options(endpoint, endpoint.base_dir)
        self.servers = [s.strip() for s in endpoint.url.split(",")]
        self._client: Client | None = None
        self._jetstream: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._failed: tuple[float, str] | None = None
        self._closing = False
        self._last_error: str | None = None
        """What the client reported while connecting: NoServersError alone would hide why
        (refused, an authorization violation, a TLS mismatch)."""
        self._server_said = False

    async def deliver(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        try:
            js = await self._connected()
        except NatsUnavailable as exc:
            return [Result(c.seq, False, str(exc), True) for c in commands]
        # One subject per command in a call (the dispatcher sends a shipment's commands one
        # round after the other), so publishing them together keeps every shipment in order.
        return list(await asyncio.gather(*(self._publish(js, c) for c in commands)))

    async def _publish(self, js: JetStreamContext, command: ClaimedCommand) -> Result:
        subject, cloudevent = render_subject(self.options.subject, self.endpoint.name, command)
        headers = {"Nats-Msg-Id": command.command_id, "X-Correlation-Id": command.correlation_id}
        if cloudevent:
            headers["Content-Type"] = "application/cloudevents+json"
        traces.inject(headers)
        try:
            await js.publish(
                subject,
                command.payload,
                timeout=self.endpoint.timeout_seconds,
                stream=self.options.stream,
                headers=headers,
            )
        except nats.errors.TimeoutError:
            error = (
                f"NATS at {self.endpoint.url}: no JetStream ack for '{subject}' within"
                f" {self.endpoint.timeout_seconds:g}s"
            )
            return Result(command.seq, False, error, True)
        except nats.js.errors.NoStreamResponseError:
            error = (
                f"no JetStream stream takes subject '{subject}' (expected stream"
                f" '{self.options.stream}'): the stream is missing or its subjects do not"
                f" cover the endpoint's subject template '{self.options.subject}'"
            )
            return Result(command.seq, False, error, False)
        except nats.js.errors.APIError as exc:
            if exc.err_code == _WRONG_STREAM:
                error = (
                    f"subject '{subject}' belongs to another stream than"
                    f" '{self.options.stream}': {exc.description}"
                )
                return Result(command.seq, False, error, False)
            retryable = (exc.code or 0) >= 500
            return Result(command.seq, False, f"JetStream refused '{subject}': {exc}"[:500],
                          retryable)  # fmt: skip
        except nats.errors.MaxPayloadError as exc:
            return Result(command.seq, False, f"too large for NATS: {exc}"[:500], False)
        except (nats.errors.Error, OSError) as exc:
            return Result(command.seq, False, f"NATS: {type(exc).__name__}: {exc}"[:500], True)
        return Result(command.seq, True)

    async def _connected(self) -> JetStreamContext:
        """The JetStream context of a live connection, connecting (and making the stream)
        when there is none. NatsUnavailable when NATS cannot be reached."""
        client = self._client
        if client is not None and client.is_connected and self._jetstream is not None:
            return self._jetstream
        if client is not None and client.is_reconnecting:
            # A publish now would wait in the client's buffer for a whole timeout; the
            # outbox's retry comes back to a connection that is up again, or closed.
            raise NatsUnavailable(f"NATS at {self.endpoint.url}: connection lost, reconnecting")
        async with self._lock:
            client = self._client
            if client is not None and client.is_connected and self._jetstream is not None:
                return self._jetstream
            # The chunks of one dispatcher round wait here together; after a failed attempt
            # they fail at once instead of each waiting out its own connect timeout.
            if self._failed is not None and time.monotonic() - self._failed[0] < 1.0:
                raise NatsUnavailable(self._failed[1])
            if client is not None and not client.is_closed:
                await self._close(client)
            self._client = self._jetstream = None
            fresh: Client | None = None
            self._last_error, self._server_said = None, False
            try:
                fresh = await self._connect()
                js = fresh.jetstream(timeout=self.endpoint.timeout_seconds)
                if self.options.create_stream:
                    await self._ensure_stream(js)
            except (nats.errors.Error, OSError, TimeoutError, NatsUnavailable) as exc:
                if fresh is not None and not fresh.is_closed:
                    await self._close(fresh)
                cause = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, NatsUnavailable):
                    cause = str(exc)
                elif isinstance(exc, nats.errors.NoServersError) and self._last_error:
                    cause = self._last_error
                message = f"NATS at {self.endpoint.url}: {cause}"[:500]
                self._failed = (time.monotonic(), message)
                raise NatsUnavailable(message) from None
            self._client, self._jetstream, self._failed = fresh, js, None
            return js

    async def _connect(self) -> Client:
        name = self.endpoint.name

        async def on_error(exc: Exception) -> None:
            said = f"{type(exc).__name__}: {exc}"
            # What the server said (an authorization violation) outranks the reset of the
            # socket it then closed, which the client reports next.
            if not isinstance(exc, OSError) or not self._server_said:
                self._last_error, self._server_said = said, not isinstance(exc, OSError)
            log.warning("nats endpoint %s: %s", name, said)

        async def on_disconnected() -> None:
            if not self._closing:
                log.warning("nats endpoint %s: disconnected, reconnecting", name)

        async def on_reconnected() -> None:
            log.info("nats endpoint %s: reconnected", name)

        # The client's reconnect loop also runs the first connect, and never gives up under
        # max_reconnect_attempts <= 0: two tries per server without a pause, then the client
        # closes. A dispatcher pass must not hang on a server that is down; the next
        # delivery connects anew, paced by the outbox's backoff and breaker.
        return await nats.connect(
            servers=self.servers,
            name=f"intermodal {name}",
            connect_timeout=max(1, round(min(self.endpoint.timeout_seconds, 5.0))),
            allow_reconnect=True,
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            **self._auth.connect_kwargs(),
        )

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.options.stream)
            return
        except nats.js.errors.NotFoundError:
            pass
        o = self.options
        config = StreamConfig(
            name=o.stream,
            subjects=[stream_subject(o.subject)],
            storage=StorageType(o.storage),
            num_replicas=o.replicas,
            duplicate_window=o.duplicate_window,
            max_age=o.max_age,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            try:
                await js.stream_info(o.stream)  # another node made it first
            except nats.js.errors.NotFoundError:
                raise NatsUnavailable(
                    f"cannot create stream '{o.stream}' on {config.subjects}: {exc.description}"
                    " (another stream may hold these subjects: name it in options.stream)"
                ) from None
            return
        log.info("nats endpoint %s: created stream %s on %s", self.endpoint.name, o.stream,
                 config.subjects)  # fmt: skip

    async def aclose(self) -> None:
        client, self._client, self._jetstream = self._client, None, None
        if client is not None and not client.is_closed:
            await self._close(client)

    async def _close(self, client: Client) -> None:
        """Close a connection on purpose: its disconnect is no news worth a warning."""
        self._closing = True
        try:
            await client.close()
        finally:
            self._closing = False
