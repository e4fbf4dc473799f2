"""CloudEvents over HTTP (HTTP Protocol Binding 1.0.2): which content mode a request uses,
and the events it carries in the structured JSON form the inbox stores.

Section 3 of the binding lets the Content-Type decide. `application/cloudevents+json` is
one event (structured mode); `application/cloudevents-batch+json` is a JSON array of events
(batched mode, and an empty array is a valid batch); any other JSON type with a
`ce-specversion` header is binary mode: the attributes are `ce-*` headers, the body is
`data` and the Content-Type is `datacontenttype`. Plain `application/json` without it stays
what the hub always read: one event object or a non-empty array.

A binary-mode event is stored as its structured JSON, and a `data_base64` event with its
data decoded, because the normalizer reads stored bodies later without the headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import orjson

from intermodal.canonical.events import (
    ATTRIBUTE_NAME,
    CanonicalEvent,
    EventError,
    decode_json,
    parse_decoded,
    parse_event,
    stored_form,
)

STRUCTURED_TYPE = "application/cloudevents+json"
BATCH_TYPE = "application/cloudevents-batch+json"
_PLAIN_MEDIA = frozenset({"application/json", STRUCTURED_TYPE, BATCH_TYPE})
_HEADER_PREFIX = "ce-"
_ATTRIBUTE = re.compile(ATTRIBUTE_NAME)
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_QUOTED_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


ContentMode = Literal["structured", "batched", "binary", "json"]
"""How a request carries its events (binding section 1.3), or `json`: the hub's own plain
JSON. Strings, not an Enum: a member lookup costs more than the webhook can spare."""


def content_mode(headers: Mapping[str, str]) -> ContentMode:
    """Binding section 3: the Content-Type's media type decides; `ce-specversion` marks a
    binary-mode event under any other (JSON) type."""
    media = headers.get("content-type", "")
    if media not in _PLAIN_MEDIA:  # the usual values skip the parsing
        media = media.split(";", 1)[0].strip().lower()
    if media == STRUCTURED_TYPE:
        return "structured"
    if media == BATCH_TYPE:
        return "batched"
    if "ce-specversion" in headers:
        return "binary"
    return "json"


def _header_problem(header: str, message: str) -> EventError:
    return EventError([{"loc": header, "msg": message}])


def header_value(header: str, raw: str) -> str:
    """An attribute's value from its header (binding 3.1.3.2): a double-quoted string is
    unescaped first (RFC 7230 3.2.6), then one round of percent-decoding, whose bytes must
    be UTF-8 (overlong forms and surrogates are refused)."""
    value = raw.strip(" \t")
    if not (value.isascii() and value.isprintable()):
        raise _header_problem(
            header,
            "header values are printable US-ASCII: percent-encode anything else as UTF-8"
            " (CloudEvents HTTP binding 3.1.3.2)",
        )
    if value.startswith('"'):
        quoted = _QUOTED_STRING.fullmatch(value)
        if quoted is None:
            raise _header_problem(header, "an unterminated or malformed double-quoted string")
        value = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
    if "%" not in value:
        return value
    if _LONE_PERCENT.search(value):
        raise _header_problem(
            header, "a '%' must start a %XX escape; send a literal percent sign as %25"
        )
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _header_problem(header, "the percent-encoded bytes are not valid UTF-8") from None


def binary_event(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The structured JSON form of a binary-mode message (binding section 3.1).

    Every `ce-<name>` header is the attribute `<name>` (header names are case-insensitive
    and arrive lower-cased); values stay strings, their canonical encoding, so an
    extension sent as `ce-priority: 5` is the String "5". The Content-Type is
    `datacontenttype` and the body, JSON, is `data`.
    """
    if "ce-datacontenttype" in headers:
        raise _header_problem(
            "ce-datacontenttype",
            "in binary mode datacontenttype is the Content-Type header;"
            " ce-datacontenttype must not be present (HTTP binding 3.1.1)",
        )
    event: dict[str, Any] = {}
    for header, raw in headers.items():
        if not header.startswith(_HEADER_PREFIX):
            continue
        name = header[len(_HEADER_PREFIX) :]
        if name == "data" or not _ATTRIBUTE.fullmatch(name):
            raise _header_problem(
                header,
                "attribute names are lower-case letters a-z and digits 0-9, not 'data'"
                " (CloudEvents Naming Conventions)",
            )
        if name in event:
            raise _header_problem(header, "each attribute appears at most once")
        event[name] = header_value(header, raw)
    content_type = headers.get("content-type")
    if content_type:
        event["datacontenttype"] = content_type.strip(" \t")
    event["data"] = decode_json(body)
    return event


def _refused(message: str) -> EventError:
    return EventError([{"loc": "", "msg": message}])


def webhook_events(
    headers: Mapping[str, str], body: bytes, max_events: int
) -> tuple[list[CanonicalEvent], bytes | None]:
    """Every event of a webhook in whichever content mode it came, validated, and what the
    inbox keeps of it: the body as sent unless it had to become structured JSON, or None
    for an empty batch (nothing to keep).

    The usual webhook (one structured event, JSON or CloudEvents type) is decoded once
    and validated once, and its body is stored as it came: no copy. (A plain tuple: a
    dataclass or NamedTuple would cost a twentieth of the validation again.)
    """
    mode = content_mode(headers)
    if mode == "binary":
        event = binary_event(headers, body)
        return [parse_event(event)], orjson.dumps(event)
    value = decode_json(body)
    if mode == "structured" and not isinstance(value, dict):
        raise _refused(
            f"{STRUCTURED_TYPE} is one event, a JSON object; send an array as {BATCH_TYPE}"
        )
    if mode == "batched" and not isinstance(value, list):
        raise _refused(f"{BATCH_TYPE} is a JSON array of events")
    if mode == "batched" and not value:  # json-format.md 4.3: an empty batch is valid
        return [], None
    events = parse_decoded(value, max_events)
    stored = stored_form(value)
    return events, body if stored is value else orjson.dumps(stored)


def batch_items(headers: Mapping[str, str], body: bytes) -> list[Any]:
    """The decoded, not yet validated, events of a `POST /v1/events` body.

    `application/json` keeps its forms (an array, or `{"events": [...]}`); the CloudEvents
    types mean what the binding says: one event, an array, or a binary-mode event.
    """
    mode = content_mode(headers)
    if mode == "binary":
        return [binary_event(headers, body)]
    value = decode_json(body)
    if mode == "structured":
        if not isinstance(value, dict):
            raise _refused(
                f"{STRUCTURED_TYPE} is one event, a JSON object; send an array as {BATCH_TYPE}"
            )
        return [value]
    if mode == "json" and isinstance(value, dict) and isinstance(value.get("events"), list):
        value = value["events"]
    if not isinstance(value, list):
        raise _refused(
            f"{BATCH_TYPE} is a JSON array of events"
            if mode == "batched"
            else 'body must be a JSON array of events (or {"events": [...]})'
        )
    return value


__all__ = [
    "BATCH_TYPE",
    "STRUCTURED_TYPE",
    "ContentMode",
    "batch_items",
    "binary_event",
    "content_mode",
    "header_value",
    "webhook_events",
]
