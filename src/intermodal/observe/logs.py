"""Structured JSON logs through structlog, with personal data and secrets redacted.

Every log line is one JSON object so operators can search by correlation id or shipment
key. Partners put personal data everywhere (stops and parties carry street addresses,
phone numbers and e-mails; a receiver's error answer often echoes the payload back), and
logs are copied to places with weaker access control than the database. So every string
in a line is redacted before it is written, whatever its key:

- e-mail addresses, phone numbers and street addresses (a house number followed by a
  street name ending in a street word: `1 Dock St`, `221B Baker Street`, `12 rue de la
  Paix`, `Hauptstrasse 5`) in free text;
- the value of any field named like personal data (`street`, `address`, `phone`,
  `email`, `contact`...), in structured fields and inside JSON or Python-repr text;
- every secret the configuration resolved (webhook secrets, tokens, API keys, in full and
  as the base64 body of a `whsec_` secret), plus anything shaped like a `whsec_` secret
  or a bearer token;
- the user and password of a URL (`https://user:pw@host`) and the value of a query
  parameter named like a credential (`?api_key=`, `&token=`, `&sig=`...);
- the input a validation error quotes (pydantic's `input_value=...`) and the parameters
  a database error lists (`[parameters: ...]`): both are payload values.

Every line means every line: `configure_logging` sends the server's own loggers
(uvicorn's, SQLAlchemy's, asyncio's), Python warnings and uncaught exceptions in any
thread through the same redacting handler, and keeps httpx from logging each request's
URL. Redaction cannot tell a name from other words, so code that handles payloads logs
ids and error classes, not exception messages: `exception_outline` is a traceback with
the messages left out, for lines about a message that failed (engine/applier.py, the
outbox dispatcher).

`log_outcome` is how the spine logs what became of a command: always with the message's
correlation id and the shipment key, so one search finds a message's whole story.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from types import TracebackType
from typing import Any, ParamSpec, TextIO
from urllib.parse import urlsplit, urlunsplit

import structlog

from intermodal.security.secrets import resolved_values

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.(?:[A-Za-z]{2,}|xn--[A-Za-z0-9-]+)"
)
# A phone number: an optional +, then digit groups split by spaces, dots, dashes or
# parentheses. Timestamps, dates, ids and amounts are kept: the match must not touch a
# word character, a colon or a dash on either side (ISO times, `cmd_...` ids).
_PHONE = re.compile(
    r"(?<![\w:.-])(?!\d{4}-\d\d-\d\d(?![\d-]))"  # not a date
    r"\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?![\w:-])"
)
_STREET_WORDS = (
    r"street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct|place|pl"
    r"|square|sq|terrace|parkway|pkwy|highway|hwy|circle|cir|alley|quay|wharf|row|close"
    r"|crescent|dock|pier|strasse|straße|str|weg|platz|gasse|allee|ring|damm|rue|via|viale"
    r"|calle|avenida|rua|straat|laan|gracht|plein|vej|gatan|gata|ulica"
)
# "<number> <up to five words> <street word>", "<street word> de la <words>" (rue de la
# Paix, calle Mayor, via Roma) with a house number before or after, and German-style
# compounds ("Hauptstrasse 5", "Am Hafenweg 12").
_LEADING_WORDS = r"rue|via|viale|calle|avenida|rua|avenue|boulevard|place|plaza|piazza|ulica"
_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?,?\s+(?:[\w.'-]+\s+){{0,5}}(?:{_STREET_WORDS})\b\.?"
    rf"|\b\d{{1,6}}[A-Za-z]?,?\s+(?:{_LEADING_WORDS})\s+(?:[\w.'-]+\s*){{1,5}}"
    rf"|\b(?:{_LEADING_WORDS})\s+(?:[\w.'-]+\s+){{0,4}}[\w.'-]+,?\s+\d{{1,6}}[A-Za-z]?\b"
    rf"|\b[\w-]*(?:strasse|straße|str\.|weg|platz|gasse|allee|damm|straat|laan|gracht|vej"
    rf"|gatan)\s+\d{{1,6}}[A-Za-z]?\b",
    re.IGNORECASE,
)
PII_KEYS = frozenset(
    {
        "street",
        "street1",
        "street2",
        "street_2",
        "address",
        "address1",
        "address2",
        "address_line",
        "address_line1",
        "address_line2",
        "line1",
        "line2",
        "phone",
        "mobile",
        "fax",
        "telephone",
        "email",
        "e_mail",
        "contact",
        "contact_name",
        "contact_person",
        "signed_by",
    }
)
_KEY_ALTERNATION = "|".join(sorted(PII_KEYS, key=len, reverse=True))
# "key": "value", 'key': 'value' (JSON and Python reprs), key=value (log-style text).
_QUOTED_FIELD = re.compile(
    rf"""(["'])({_KEY_ALTERNATION})\1(\s*:\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
    rf"""|\{{[^{{}}]*\}}|[^,}}\]\s][^,}}\]]*)""",
    re.IGNORECASE,
)
_BARE_FIELD = re.compile(rf"\b({_KEY_ALTERNATION})=(\"[^\"]*\"|'[^']*'|\S+)", re.IGNORECASE)
_SECRETISH = re.compile(r"(whsec_)[A-Za-z0-9+/=]+|(bearer\s+)\S+", re.IGNORECASE)
# scheme://user:password@ (or a user or token alone before the @).
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@", re.IGNORECASE)
CREDENTIAL_PARAMETERS = (
    "api_key|api-key|apikey|key|access_key|access_token|token|auth|authorization|secret"
    "|client_secret|password|passwd|pwd|pass|signature|sig|session|sessionid|credential"
    "|credentials|private_key"
)
"""Query parameter names whose values are credentials (matched whole, any case)."""
_CREDENTIAL_QUERY = re.compile(rf"([?&;](?:{CREDENTIAL_PARAMETERS})=)[^&#;\s\"'<>]*", re.IGNORECASE)


def credential_parameter(name: str) -> bool:
    """Whether a URL query parameter of this name carries a credential."""
    return name.lower() in _CREDENTIAL_NAMES


_CREDENTIAL_NAMES = frozenset(CREDENTIAL_PARAMETERS.split("|"))
_INPUT_VALUE = re.compile(r"input_value=(?:(?!, input_type=).)*")
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*\n|\s*$|\s*\(Background)", re.DOTALL)
_KEEP = frozenset({"timestamp", "level", "logger"})
P = ParamSpec("P")
_MIN_SECRET = 6  # shorter "secrets" would redact ordinary words


def redact(text: str) -> str:
    """The text with personal data and secrets masked (see the module docstring)."""
    for secret in _secret_values():
        if secret in text:
            text = text.replace(secret, "<secret>")
    text = _SECRETISH.sub(lambda m: (m.group(1) or m.group(2)) + "<redacted>", text)
    if "://" in text:
        text = _URL_USERINFO.sub(r"\1<redacted>@", text)
    if "=" in text:
        text = _CREDENTIAL_QUERY.sub(r"\1<redacted>", text)
        text = _INPUT_VALUE.sub("input_value=<redacted>", text)
    if "[parameters: " in text:
        text = _SQL_PARAMETERS.sub("[parameters: <redacted>]", text)
    text = _QUOTED_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}"
                             '"<redacted>"', text)  # fmt: skip
    text = _BARE_FIELD.sub(lambda m: f"{m.group(1)}=<redacted>", text)
    text = _EMAIL.sub("<email>", text)
    text = _STREET.sub("<address>", text)
    return _PHONE.sub("<phone>", text)


def safe_url(url: str) -> str:
    """A URL fit for a log line or a span: no user or password, no query, no fragment
    (endpoint credentials come as references, never in the URL; a URL from elsewhere may
    still carry some)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def exception_outline(exc: BaseException) -> str:
    """A traceback with the exception messages left out: where it failed and what kind of
    error, never the values a message may quote (a customer's name in a validation error,
    a receiver's answer). Chained causes are outlined too."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts = []
    for error in reversed(chain):
        frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
        kind = type(error)
        parts.append(
            f"Traceback (most recent call last):\n{frames}{kind.__module__}.{kind.__qualname__}"
            " (message left out of the log)"
        )
    return "\n\nwhich caused:\n\n".join(parts)


def redacts_token(token: str) -> bool:
    """Whether `redact` would change `token`, a string of letters, digits and `._:-` (a
    correlation id): the same answer for a fraction of the cost, on the webhook hot path.
    Of the redactor's patterns only a phone number, a `whsec_` secret and a configured
    secret can match without a space, `@`, `=` or quotes, and a phone number only at the
    start (anywhere else a letter, digit or `.:-` comes before it)."""
    if token[:1].isdigit() and _PHONE.match(token) is not None:
        return True
    if "whsec_" in token.lower():
        return True
    return any(secret in token for secret in _secret_values())


_secrets_seen: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())


def _secret_values() -> tuple[str, ...]:
    """The strings to mask, longest first; worked out again only when a secret was
    resolved since the last call (every log line and correlation id asks)."""
    global _secrets_seen
    resolved = resolved_values()
    if resolved == _secrets_seen[0]:
        return _secrets_seen[1]
    values = []
    for value in resolved:
        values.append(value)
        if value.startswith("whsec_"):
            values.append(value.removeprefix("whsec_").rstrip("="))
    masked = tuple(sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True))
    _secrets_seen = (resolved, masked)
    return masked


def redact_value(key: str, value: Any) -> Any:
    """A structured field redacted: personal-data keys entirely, strings by `redact`."""
    if key.lower() in PII_KEYS and value not in (None, "", [], {}):
        return "<redacted>"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value("", v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key not in _KEEP:
            event[key] = redact_value(key, value)
    return event


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """JSON lines on `stream` (stderr) for structlog and stdlib loggers alike, redacted."""
    stream = stream or sys.stderr
    numeric = getattr(logging, level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    structlog.configure(
        processors=[
            *[p for p in shared if not isinstance(p, structlog.stdlib.ExtraAdder)],
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    _through_root()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO; deliveries have their own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable


SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "sqlalchemy")


def _through_root() -> None:
    """Every logger hands its lines to the root's redacting handler: uvicorn, when it
    configures logging itself, gives its loggers plain-text handlers of their own that
    stop at them (and would print a traceback as it is)."""
    names = {*SERVER_LOGGERS, *logging.root.manager.loggerDict}
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


_crash_log = logging.getLogger("intermodal.crash")


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    _crash_log.critical("uncaught %s", kind.__name__, exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    _crash_log.error(
        "uncaught %s in thread %s",
        args.exc_type.__name__,
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def crashes_logged(main: Callable[P, None]) -> Callable[P, None]:
    """A child process's main whose uncaught exception is logged (JSON, redacted) and
    ends the process with code 1, where multiprocessing would print the traceback to
    stderr as it is. Module-level use only: `spawn` pickles the main by its name."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            main(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if not logging.getLogger().handlers:  # it failed before setting up logging
                configure_logging()
            _crash_log.critical(
                "process %s crashed (%s)",
                multiprocessing.current_process().name,
                type(exc).__name__,
                exc_info=exc,
            )
            sys.exit(1)

    return run


def _log_unraisable(unraisable: Any) -> None:
    """An exception Python could not raise (in a finalizer, say): logged, not printed."""
    kind = unraisable.exc_type
    _crash_log.warning(
        "unraisable %s (%s)",
        kind.__name__,
        unraisable.err_msg or "exception ignored",
        exc_info=(kind, unraisable.exc_value, unraisable.exc_traceback),
    )


def log_outcome(log: logging.Logger, row: Any, kind: str, error: str | None) -> None:
    """What became of one outbox command, tied to its message and shipment.

    A dead letter is an error, with the kind of failure (`error_code`: "HTTP 422",
    "ConnectError"), not its text: a receiver's answer often quotes the command back, a
    customer's name included, and the whole reason is kept with the dead letter
    (`intermodal dlq show`). Delivered, retried and deferred are debug: they are counted
    in the metrics, and an endpoint that is down would otherwise log a line per command
    per attempt (100,000 in-flight commands, 100,000 lines a round).
    """
    level = logging.ERROR if kind == "dead" else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "command %s: %s",
        kind,
        error_code(error) if error else "ok",
        extra={
            "correlation_id": row.correlation_id,
            "shipment_key": row.subject,
            "command_id": row.command_id,
            "endpoint": row.endpoint,
            "attempts": row.attempts + 1,
        },
    )


_ERROR_CODE = re.compile(r"HTTP \d{3}(?=:|$)|[A-Za-z][\w.]{0,63}(?: [a-z][\w.]{0,31})?(?=:)")


def error_code(error: str) -> str:
    """The kind of a delivery failure, from the reason a sink gave: its leading "HTTP
    503" or exception class ("ConnectError: ..." gives "ConnectError"), else "error"."""
    found = _ERROR_CODE.match(error)
    return found.group(0) if found else "error"
