"""Connection limits the HTTP server enforces before the application sees a request.

uvicorn's httptools protocol buffers a header of any size (one 256 MiB header was parsed
for 57 s while the process grew to 756 MB and every other webhook waited) and never
times a client out while it sends its headers or its body, so a few thousand clients
sending a byte every few seconds held their connections for as long as they liked.
`limited_protocol` returns uvicorn's protocol with the limits of `hub.limits` added, at
the one place every byte passes before the application:

- **header size and count**: the request line and the header fields may take
  `max_header_bytes`, in at most `max_headers` fields; past either the answer is
  431 and the connection is closed, so a huge header costs at most the limit plus one
  read (256 KiB), never its own size;
- **header read timeout**: a request's headers must be complete within
  `header_timeout_seconds` of its first byte (of the connection, for the first request);
  otherwise 408 and close. Between requests the keep-alive timeout
  (`keep_alive_seconds`) closes an idle connection;
- **body read timeout**: the whole body must arrive within `body_timeout_seconds` of the
  end of the headers; otherwise 408 and close, and the application's `receive()` sees the
  client gone;
- **connections per client address**: at most `max_connections_per_client` open at once
  from one address in one server process; one more is answered 429 and closed.

The checks cost the hot path nothing measurable (under a microsecond a request, against
uvicorn's own protocol): a webhook whose headers and body arrive in one read (nearly all
of them) arms no timer beyond the one a new connection arms, and its header section is
checked once, when complete, by comparing sizes already known.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from intermodal.config import LimitsConfig
from intermodal.errors import InvalidInput

_HEADER_OVERHEAD = 4
"""The bytes a header field takes besides its name and value: ': ' and CRLF."""
_REASONS = {
    408: b"Request Timeout",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
}


class _Refused(InvalidInput):
    """Raised inside a parser callback to stop parsing a request that broke a limit."""


def refusal(status: int, code: str, message: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP answer that closes the connection, in the API's error shape
    (api/errors.py), written by the protocol itself: no application runs for it."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    head = [
        b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    if retry_after is not None:
        head.append(b"retry-after: %d\r\n" % retry_after)
    return b"".join([*head, b"\r\n", body])


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `hub.limits` enforced (see the module docstring).

    One subclass per server (`limited_protocol`): it carries that server's limits and
    its count of open connections per client address.
    """

    limits: ClassVar[LimitsConfig] = LimitsConfig()
    open_by_client: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address: str | None = None
        """The client address this connection is counted under; None: not counted."""
        self._refused = False
        self._reading_headers = True
        self._message_ended = False
        """A request ended during the current read (so the read was not all headers)."""
        self._read_size = 0
        """The size of the read being parsed."""
        self._header_read = 0
        """The bytes of the reads that were nothing but the current request's headers:
        what the parser holds before it hands a long field over."""
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # -- the connection --------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        cap = self.limits.max_connections_per_client
        if address is not None and cap is not None:
            if self.open_by_client[address] >= cap:
                self._refuse(
                    refusal(
                        429,
                        "too_many_connections",
                        f"more than {cap} open connections from this address",
                        retry_after=1,
                    )
                )
                return
            self.open_by_client[address] += 1
            self._address = address
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._header_timeout
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is not None:
            left = self.open_by_client[self._address] - 1
            if left > 0:
                self.open_by_client[self._address] = left
            else:
                del self.open_by_client[self._address]
            self._address = None
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        in_headers = self._reading_headers
        self._message_ended = False
        self._read_size = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refused:
                return  # a limit answered already
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._reading_headers and in_headers and not self._message_ended:
            # The whole read was one request's headers, still incomplete.
            self._header_read += len(data)
            if self._header_read > self.limits.max_header_bytes:
                self._headers_too_large()
                return
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(
                    self.limits.header_timeout_seconds, self._header_timeout
                )
        elif self.cycle is not None and self.cycle.more_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._body_timeout
            )

    # -- parser callbacks ------------------------------------------------------------
    def on_headers_complete(self) -> None:
        """Check the header section once it is complete: the reads before this one are
        counted already, and this one holds the rest, so a section that fits in them
        (nearly every request) needs no count of its own."""
        headers = self.headers
        limits = self.limits
        if len(headers) > limits.max_headers:
            self._refuse(
                refusal(431, "too_many_headers", f"more than {limits.max_headers} header fields")
            )
            raise _Refused
        if (
            self._header_read + self._read_size > limits.max_header_bytes
            and _section_size(self.url, headers) > limits.max_header_bytes
        ):
            self._headers_too_large()
            raise _Refused
        self._reading_headers = False
        self._header_read = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_headers = True
        self._message_ended = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # -- limits ----------------------------------------------------------------------
    def _headers_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(
            refusal(
                431,
                "headers_too_large",
                f"the request line and headers take more than {limit} bytes",
            )
        )

    def _header_timeout(self) -> None:
        """Headers still incomplete at the deadline: 408 if the client had started a
        request, a plain close if it sent nothing. A response still being written for
        the previous request keeps the connection; the next bytes start a new timer."""
        self._header_timer = None
        if self._refused or not self._reading_headers:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return
        if self._header_read == 0:
            self._refuse(b"")  # nothing of a request arrived: nobody to answer
            return
        seconds = self.limits.header_timeout_seconds
        self._refuse(
            refusal(408, "header_timeout", f"the request headers took more than {seconds:g} s")
        )

    def _body_timeout(self) -> None:
        """The body still incomplete at the deadline. If the server stopped reading
        (the application has not taken the body read so far), the client is not the slow
        one: wait another round."""
        self._body_timer = None
        cycle = self.cycle
        if self._refused or cycle is None or not cycle.more_body:
            return
        if self.flow is not None and self.flow.read_paused:
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._body_timeout
            )
            return
        seconds = self.limits.body_timeout_seconds
        answer = (
            b""
            if cycle.response_started
            else refusal(408, "body_timeout", f"the request body took more than {seconds:g} s")
        )
        self._refuse(answer)

    def _refuse(self, answer: bytes) -> None:
        """Write `answer` (if any) and close: nothing more is read from this client."""
        self._refused = True
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        if self.transport is not None and not self.transport.is_closing():
            if answer:
                self.transport.write(answer)
            self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None


def _section_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The bytes of a request's target and header fields, as counted against the limit."""
    return len(url) + sum(len(name) + len(value) + _HEADER_OVERHEAD for name, value in headers)


def limited_protocol(limits: LimitsConfig) -> type[LimitedHttpProtocol]:
    """The protocol class for one server (uvicorn's `Config(http=...)`), with its own
    limits and its own count of connections per client address."""
    return type(
        "LimitedHttpProtocol",
        (LimitedHttpProtocol,),
        {"limits": limits, "open_by_client": Counter()},
    )


__all__ = ["LimitedHttpProtocol", "limited_protocol", "refusal"]
