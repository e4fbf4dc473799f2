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
  or a bearer token.

`log_outcome` is how the spine logs what became of a command: always with the message's
correlation id and the shipment key, so one search finds a message's whole story.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

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
_KEEP = frozenset({"timestamp", "level", "logger"})
_MIN_SECRET = 6  # shorter "secrets" would redact ordinary words


def redact(text: str) -> str:
    """The text with personal data and secrets masked (see the module docstring)."""
    for secret in _secret_values():
        if secret in text:
            text = text.replace(secret, "<secret>")
    text = _SECRETISH.sub(lambda m: (m.group(1) or m.group(2)) + "<redacted>", text)
    text = _QUOTED_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}"
                             '"<redacted>"', text)  # fmt: skip
    text = _BARE_FIELD.sub(lambda m: f"{m.group(1)}=<redacted>", text)
    text = _EMAIL.sub("<email>", text)
    text = _STREET.sub("<address>", text)
    return _PHONE.sub("<phone>", text)


def _secret_values() -> list[str]:
    values = []
    for value in resolved_values():
        values.append(value)
        if value.startswith("whsec_"):
            values.append(value.removeprefix("whsec_").rstrip("="))
    return sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True)


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
    logging.getLogger("alembic").setLevel(logging.WARNING)


def log_outcome(log: logging.Logger, row: Any, kind: str, error: str | None) -> None:
    """What became of one outbox command, tied to its message and shipment.

    A dead letter is an error, with the reason (redacted on the way out). Delivered,
    retried and deferred are debug: they are counted in the metrics, and an endpoint that
    is down would otherwise log a line per command per attempt (100,000 in-flight
    commands, 100,000 lines a round).
    """
    level = logging.ERROR if kind == "dead" else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "command %s: %s",
        kind,
        error or "ok",
        extra={
            "correlation_id": row.correlation_id,
            "shipment_key": row.subject,
            "command_id": row.command_id,
            "endpoint": row.endpoint,
            "attempts": row.attempts + 1,
        },
    )
