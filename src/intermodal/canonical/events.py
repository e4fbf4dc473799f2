"""The CloudEvents 1.0 envelope every canonical event travels in.

One envelope class per event type, discriminated by `type`, so that the JSON Schema says
exactly which `data` goes with which type and pydantic picks the right one in a single
pass (the hot path validates thousands of these per second).

The envelope follows CloudEvents 1.0.2 (spec.md) and its JSON format (formats/json-format.md)
to the letter, with the canonical model's constraints on top: `type` is one of ours,
`subject` (the shipment key) and `time` are required because the hub files, orders and
deduplicates by them, and `data` is the type's model, so it is JSON. Every rule is a
pydantic constraint compiled once into pydantic-core (Rust regexes, extension names as
typed extra keys), so a valid event costs no Python beyond pydantic's own call; Python
runs only to explain a failure and to decode the rare `data_base64`.
"""

from __future__ import annotations

import base64
import binascii
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import ErrorDetails, core_schema

from intermodal.canonical.model import (
    STORABLE_TEXT,
    Charge,
    CustomsStatus,
    Instant,
    Key,
    MilestoneEvent,
    PositionReport,
    ProofOfDelivery,
    Shipment,
    VehicleAssignment,
)
from intermodal.errors import InvalidInput


class EventType(StrEnum):
    """`intermodal.<entity>.<verb>`: the closed set of canonical event types."""

    SHIPMENT_UPSERTED = "intermodal.shipment.upserted"
    SHIPMENT_MILESTONE = "intermodal.shipment.milestone"
    POD_RECEIVED = "intermodal.pod.received"
    CHARGE_RECORDED = "intermodal.charge.recorded"
    CUSTOMS_UPDATED = "intermodal.customs.updated"
    POSITION_REPORTED = "intermodal.position.reported"
    VEHICLE_ASSIGNED = "intermodal.vehicle.assigned"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)

CORE_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
)
"""The context attributes CloudEvents 1.0 defines; any other attribute is an extension."""

ATTRIBUTE_NAME = r"[a-z0-9]+"
"""Naming Conventions: lower-case ASCII letters and digits. The spec's 'SHOULD NOT exceed
20 characters' is advice to producers: a longer name is still a valid event, so it is kept."""
_ATTRIBUTE_NAME_PATTERN = f"^{ATTRIBUTE_NAME}$"

_NOT_A_STRING = r"\x00-\x1F\x7F-\x9F\x{FDD0}-\x{FDEF}" + "".join(
    rf"\x{{{plane + 0xFFFE:X}}}\x{{{plane + 0xFFFF:X}}}" for plane in range(0, 0x110000, 0x10000)
)
"""Characters the Type System's `String` forbids, as regex class text: controls and Unicode
noncharacters (lone surrogates cannot get this far: orjson and strict UTF-8 refuse them)."""

EXTENSION_TEXT_LIMIT = 1024
"""The hub's own bound on one extension value (the spec sets none; the body limit and this
keep a forwarded extension usable as an HTTP header)."""

# RFC 3986 Appendix A as pattern text that Rust's regex and ECMAScript read alike.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_H16 = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LS32 = rf"(?:{_H16}:{_H16}|{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})"


def _ipv6() -> str:
    """IPv6address of RFC 3986 section 3.2.2: eight 16-bit pieces, or fewer around one `::`."""
    forms = [rf"(?:{_H16}:){{6}}{_LS32}", rf"::(?:{_H16}:){{5}}{_LS32}"]
    tails = [rf"(?:{_H16}:){{{n}}}{_LS32}" for n in (4, 3, 2, 1)] + [_LS32, _H16, ""]
    for before, tail in enumerate(tails):
        head = _H16 if before == 0 else rf"(?:{_H16}:){{0,{before}}}{_H16}"
        forms.append(rf"(?:{head})?::{tail}")
    return "(?:" + "|".join(forms) + ")"


_AUTHORITY = (
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
    rf"(?:\[(?:{_ipv6()}|[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
    rf"|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)(?::[0-9]*)?"
)
_PATH_ABEMPTY = rf"(?:/{_PCHAR}*)*"
_PATH_ABSOLUTE = rf"/(?:{_PCHAR}+{_PATH_ABEMPTY})?"
_QUERY_FRAGMENT = rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
URI = (
    rf"[A-Za-z][A-Za-z0-9+\-.]*:"
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PCHAR}+{_PATH_ABEMPTY})?"
    rf"{_QUERY_FRAGMENT}"
)
"""RFC 3986 `URI` (section 3): a scheme and the rest. A fragment is allowed, as the
CloudEvents JSON Schema's `"format": "uri"` for `dataschema` allows it (json-format.md 2.4)."""
URI_REFERENCE = (
    rf"(?:{URI}|(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}"
    rf"|(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})+{_PATH_ABEMPTY})?{_QUERY_FRAGMENT})"
)
"""RFC 3986 `URI-reference` (section 4.1): a URI or a relative reference."""

_TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z\-]"
JSON_MEDIA_TYPE = (
    rf"{_TCHAR}+/(?:{_TCHAR}*\+)?[Jj][Ss][Oo][Nn]"
    rf'(?:[ \t]*;[ \t]*(?:{_TCHAR}+=(?:{_TCHAR}+|"(?:[\t !#-\[\]-~]|\\[\t -~])*"))?)*'
)
"""An RFC 2046 media type declaring JSON (json-format.md 3.1.1): subtype `json` or
`...+json`, with parameters as RFC 9110 section 5.6.6 writes them (empty ones allowed)."""
_JSON_MEDIA = re.compile(JSON_MEDIA_TYPE)


def _extension_value() -> core_schema.CoreSchema:
    """Type System in the JSON format (json-format.md 2.2): a boolean, an integer in the
    32-bit range or a String, with one message for all three. A null extension fails here
    and `parse_event` drops it and validates again: null means unset, and the usual event,
    without nulls, pays nothing for the rule."""
    return core_schema.union_schema(
        [
            core_schema.bool_schema(strict=True),
            core_schema.int_schema(strict=True, ge=-(2**31), le=2**31 - 1),
            core_schema.str_schema(
                strict=True, max_length=EXTENSION_TEXT_LIMIT, pattern=f"^[^{_NOT_A_STRING}]*$"
            ),
        ],
        custom_error_type="cloudevents_extension",
        custom_error_message=(
            "an extension attribute is a boolean, an integer in the 32-bit range or a"
            f" String (no control characters, at most {EXTENSION_TEXT_LIMIT} characters here)"
        ),
    )


ExtensionName = Annotated[str, StringConstraints(pattern=_ATTRIBUTE_NAME_PATTERN)]
ExtensionValue = Annotated[
    StrictBool | StrictInt | StrictStr,
    GetPydanticSchema(lambda _source, _handler: _extension_value()),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
                {"type": "string", "maxLength": EXTENSION_TEXT_LIMIT},
                {"type": "null"},
            ]
        }
    ),
]
EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=f"^[^{_NOT_A_STRING}]+$"),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 256}),
]
SourceRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512, pattern=f"^{URI_REFERENCE}$"),
    WithJsonSchema({"type": "string", "format": "uri-reference", "minLength": 1, "maxLength": 512}),
]
SchemaUri = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048, pattern=f"^{URI}$"),
    WithJsonSchema({"type": "string", "format": "uri", "minLength": 1, "maxLength": 2048}),
]


MediaType = Annotated[str, StringConstraints(max_length=256, pattern=f"^{JSON_MEDIA_TYPE}$")]


class _Envelope(BaseModel):
    """CloudEvents 1.0 context attributes; extensions live in `model_extra`. A null
    optional attribute is None, as an absent one is (json-format.md 2.2)."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        json_schema_extra={"propertyNames": {"pattern": _ATTRIBUTE_NAME_PATTERN}},
    )
    __pydantic_extra__: dict[ExtensionName, ExtensionValue] = Field(init=False)

    specversion: Literal["1.0"]
    id: EventId
    source: SourceRef
    subject: Key
    time: Instant
    datacontenttype: MediaType | None = None
    """Absent (or null) means application/json (json-format.md 3.1.2)."""
    dataschema: SchemaUri | None = None

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ShipmentUpserted(_Envelope):
    type: Literal[EventType.SHIPMENT_UPSERTED]
    data: Shipment

    @field_validator("data")
    @classmethod
    def _subject_is_key(cls, data: Shipment, info: ValidationInfo) -> Shipment:
        """Reported at `data`, naming both fields and not their values (errors reach
        receipts, and a key can be a customer's reference)."""
        subject = info.data.get("subject")
        if subject is not None and data.key != subject:
            raise ValueError("data.key must equal the event's subject: both name the shipment")
        return data


class ShipmentMilestone(_Envelope):
    type: Literal[EventType.SHIPMENT_MILESTONE]
    data: MilestoneEvent


class PodReceived(_Envelope):
    type: Literal[EventType.POD_RECEIVED]
    data: ProofOfDelivery


class ChargeRecorded(_Envelope):
    type: Literal[EventType.CHARGE_RECORDED]
    data: Charge


class CustomsUpdated(_Envelope):
    type: Literal[EventType.CUSTOMS_UPDATED]
    data: CustomsStatus


VEHICLE_SUBJECT = "vehicle:"
"""The subject prefix of a position whose provider knows only the vehicle
(`vehicle:TRK-417`): the hub files it under the shipment the vehicle is assigned to."""


class PositionReported(_Envelope):
    """A telematics fix. Not kept in the shipment's timeline: the hub keeps the latest
    position and a thinned track per shipment (foresight/positions.py)."""

    type: Literal[EventType.POSITION_REPORTED]
    data: PositionReport

    @field_validator("data")
    @classmethod
    def _vehicle_subject_names_it(
        cls, data: PositionReport, info: ValidationInfo
    ) -> PositionReport:
        subject = info.data.get("subject")
        if (
            isinstance(subject, str)
            and subject.startswith(VEHICLE_SUBJECT)
            and data.vehicle_id != subject[len(VEHICLE_SUBJECT) :]
        ):
            raise ValueError("a subject 'vehicle:<id>' needs data.vehicle_id, equal to that <id>")
        return data


class VehicleAssigned(_Envelope):
    """The subject shipment travels on `data.vehicle_id` from `data.assigned_at` on."""

    type: Literal[EventType.VEHICLE_ASSIGNED]
    data: VehicleAssignment


CanonicalEvent = Annotated[
    ShipmentUpserted
    | ShipmentMilestone
    | PodReceived
    | ChargeRecorded
    | CustomsUpdated
    | PositionReported
    | VehicleAssigned,
    Field(discriminator="type"),
]
"""Any canonical event; `event.type` tells which `data` it carries."""

EVENT_ADAPTER: TypeAdapter[CanonicalEvent] = TypeAdapter(CanonicalEvent)
_EVENT_LIST_ADAPTER: TypeAdapter[list[CanonicalEvent]] = TypeAdapter(list[CanonicalEvent])


class EventError(InvalidInput, ValueError):
    """A message that is not a valid canonical event, with every problem named by path."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        first = problems[0] if problems else {"loc": "", "msg": "invalid event"}
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first['loc'] or 'body'}: {first['msg']}{more}")


_HINTS = {
    "source": "must be a non-empty URI-reference (RFC 3986 section 4.1),"
    " e.g. https://carrier.example/events or /carriers/acme",
    "dataschema": "must be a non-empty URI with a scheme (RFC 3986),"
    " e.g. https://carrier.example/schemas/scan.json",
    "id": "must be a non-empty String without control characters or Unicode noncharacters",
    "datacontenttype": "must be a JSON media type (*/json or */*+json, RFC 2046):"
    " canonical event data is JSON",
}
_REQUIRED = {
    "subject": "required here: the hub files every event under its shipment key"
    " (CloudEvents makes subject optional, the canonical model does not)",
    "time": "required here: the hub orders and deduplicates events by time"
    " (CloudEvents makes time optional, the canonical model does not)",
    "data": "required: a canonical event carries its data in data (or data_base64)",
}
_REQUIRED_BY_SPEC = "a REQUIRED CloudEvents attribute is missing (null counts as missing)"
_BAD_NAME = (
    "attribute names are lower-case letters a-z and digits 0-9 only"
    " (CloudEvents Naming Conventions)"
)
_HINTED = frozenset({"string_type", "string_pattern_mismatch"})
_NUL = (
    "must not contain U+0000 (NUL): the hub's store and Odoo cannot hold it"
    " (other characters, including other control characters, are kept as sent)"
)


def _pattern(err: ErrorDetails) -> Any:
    return (err.get("ctx") or {}).get("pattern")


def describe(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Turn pydantic's error list into `{loc, msg}` pairs a partner can act on.

    Only pydantic's message is kept, never the input it names: problems reach answers,
    receipts and logs, and the value may be a customer's name or address. The
    discriminator tag (the event type) is dropped from the path: a partner thinks in
    `data.milestone`, not in `intermodal.shipment.milestone.data.milestone`. An envelope
    attribute gets a message saying what CloudEvents wants instead of pydantic's regex.
    """
    problems = []
    for err in error.errors(include_url=False):
        parts = [str(p) for p in err["loc"] if str(p) not in EVENT_TYPES]
        message = err["msg"]
        if err["type"] == "string_pattern_mismatch" and _pattern(err) == STORABLE_TEXT:
            message = _NUL
        elif len(parts) == 1:  # an envelope attribute
            message = _attribute_message(parts[0], err)
        loc = ".".join(filter(None, [prefix, *parts]))
        problems.append({"loc": loc, "msg": message})
    return problems


def _attribute_message(attribute: str, err: ErrorDetails) -> str:
    """A null attribute reads as a missing one (json-format.md 2.2), and a regex mismatch
    as what the spec asks for; a bad extension name fails the extra keys' pattern."""
    kind = err["type"]
    if kind == "missing" or err.get("input", ...) is None:
        return _REQUIRED.get(attribute, _REQUIRED_BY_SPEC)
    if kind == "string_pattern_mismatch" and _pattern(err) == _ATTRIBUTE_NAME_PATTERN:
        return _BAD_NAME
    if kind in _HINTED and attribute in _HINTS:
        return _HINTS[attribute]
    return err["msg"]


class _DataProblem(InvalidInput, ValueError):
    """A `data_base64` that is not base64 of JSON text, naming the attribute."""

    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(message)
        self.attribute = attribute
        self.message = message


def structured(value: dict[str, Any]) -> dict[str, Any]:
    """The event as the hub reads and keeps it: null members dropped (json-format.md 2.2:
    null means unset; a null `data` stays, it is an explicit null payload, 3.1.1) and a
    `data_base64` member decoded into `data` (3.1.2).

    Canonical `data` is a JSON object, so the bytes must be JSON text, as a JSON
    `datacontenttype` (or none: application/json) declares; decoded, they meet the type's
    model exactly as `data` would. Raises `_DataProblem` naming the member at fault.
    """
    event = {k: v for k, v in value.items() if v is not None or k == "data"}
    encoded = event.pop("data_base64", None)
    if encoded is None:
        return event
    if "data" in value:
        raise _DataProblem(
            "data_base64", "data and data_base64 are mutually exclusive (json-format.md 3.1.1)"
        )
    content_type = event.get("datacontenttype")
    if isinstance(content_type, str) and not _JSON_MEDIA.fullmatch(content_type):
        raise _DataProblem(
            "datacontenttype",
            "must be a JSON media type (*/json or */*+json) with data_base64:"
            " canonical event data is JSON",
        )
    if not isinstance(encoded, str):
        raise _DataProblem("data_base64", "data_base64 must be a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _DataProblem(
            "data_base64", "not valid base64 (RFC 4648 section 4: standard alphabet, padded)"
        ) from None
    try:
        event["data"] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _DataProblem(
            "data_base64", "the decoded bytes are not JSON text (UTF-8) as datacontenttype says"
        ) from None
    return event


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words, for an error message."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else type(value).__name__


def parse_event(value: Any, prefix: str = "") -> CanonicalEvent:
    """Validate one decoded JSON value as a canonical event or raise EventError.

    An event with `data_base64` or a null extension fails the first pass (neither is an
    attribute value) and is validated again in its `structured` form: the usual event pays
    nothing for either rule.
    """
    if not isinstance(value, dict):
        raise EventError([{"loc": prefix, "msg": "an event must be a JSON object"}])
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:  # a dict or list is unhashable
        allowed = ", ".join(sorted(EVENT_TYPES))
        said = "" if kind is None or isinstance(kind, str) else f", not a JSON {_json_kind(kind)}"
        raise EventError(
            [
                {
                    "loc": f"{prefix}.type" if prefix else "type",
                    "msg": f"type must be a string, one of {allowed}{said}",
                }
            ]
        )
    try:
        return EVENT_ADAPTER.validate_python(value)
    except ValidationError as exc:
        if "data_base64" not in value and None not in value.values():
            raise EventError(describe(exc, prefix)) from None
    try:
        decoded = structured(value)
    except _DataProblem as problem:
        loc = f"{prefix}.{problem.attribute}" if prefix else problem.attribute
        raise EventError([{"loc": loc, "msg": problem.message}]) from None
    try:
        return EVENT_ADAPTER.validate_python(decoded)
    except ValidationError as exc:
        raise EventError(describe(exc, prefix)) from None


def stored_form(value: Any) -> Any:
    """A valid event (or array of them) as the hub stores it: as sent, except that a
    `data_base64` member is decoded into `data`, the form the timeline and the workflows
    read. Returns `value` itself when nothing has to change (the usual message)."""
    if isinstance(value, dict):
        return structured(value) if "data_base64" in value else value
    if isinstance(value, list) and any(isinstance(v, dict) and "data_base64" in v for v in value):
        return [stored_form(v) for v in value]
    return value


def parse_all_or_none(values: list[Any]) -> list[CanonicalEvent] | None:
    """Validate a whole list in one pydantic call; None when any item is invalid.

    One call over 10,000 events is several times faster than 10,000 calls; callers fall
    back to `parse_event` per item only to name the broken ones.
    """
    try:
        return _EVENT_LIST_ADAPTER.validate_python(values)
    except ValidationError:
        return None


def decode_json(raw: bytes) -> Any:
    """Decode JSON bytes strictly (UTF-8, no NaN), raising EventError on anything else."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventError([{"loc": "", "msg": f"body is not valid JSON: {exc}"}]) from None


MAX_PARTNER_JSON_DEPTH = 64
"""How deeply a partner's own JSON (read later by its mapping) may nest. orjson stops at
1024 levels, but a mapping's JSONata expressions and the hub's own copies walk the value
in Python, whose recursion ends near 1000 frames: a body that decodes must also map.
Carriers' payloads nest about ten levels; canonical events need no such bound, their
models stop at the first level that is not what they expect."""


def decode_partner_json(raw: bytes, max_depth: int = MAX_PARTNER_JSON_DEPTH) -> Any:
    """`decode_json` for a partner's own JSON, refused (EventError naming the path) when
    it holds what the hub cannot keep or walk: U+0000 in a string or a member name, or
    nesting deeper than `max_depth`. Its mapping reads it only when it is applied, so this
    is checked at the door, where the sender still gets the answer.

    Both checks start from the bytes: U+0000 can only be written `\\u0000` in JSON, and
    a body with no more brackets than `max_depth` cannot nest deeper, so the usual body is
    never walked."""
    value = decode_json(raw)
    if b"\\u0000" in raw or raw.count(b"[") + raw.count(b"{") > max_depth:
        problem = _unkeepable(value, max_depth)
        if problem is not None:
            raise EventError([problem])
    return value


def _unkeepable(value: Any, max_depth: int) -> dict[str, str] | None:
    """The first place in a decoded JSON value holding U+0000 or nested too deeply.
    Iterative: the value may nest a thousand levels."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return {"loc": ".".join(path), "msg": _NUL}
            continue
        if not isinstance(node, dict | list):
            continue
        if len(path) >= max_depth:
            return {"loc": ".".join(path), "msg": f"nested deeper than {max_depth} levels"}
        if isinstance(node, dict):
            for key, member in node.items():
                if "\x00" in key:
                    return {"loc": ".".join(path), "msg": "a member name " + _NUL}
                stack.append((member, (*path, key)))
        else:
            stack.extend((item, (*path, str(index))) for index, item in enumerate(node))
    return None


def parse_events(raw: bytes, max_events: int = 10_000) -> list[CanonicalEvent]:
    """Parse a body holding one event or a JSON array of them; all must be valid.

    The whole array is validated in one pydantic call first (fast path); only when that
    fails is it walked event by event to name the first broken one precisely.
    """
    return parse_decoded(decode_json(raw), max_events)


def parse_decoded(value: Any, max_events: int = 10_000) -> list[CanonicalEvent]:
    """`parse_events` of a body already decoded (the applier keeps the decoded JSON for the
    timeline, so it decodes once)."""
    if isinstance(value, dict):
        return [parse_event(value)]
    if not isinstance(value, list):
        raise EventError([{"loc": "", "msg": "body must be an event object or an array of events"}])
    if not value:
        raise EventError([{"loc": "", "msg": "the array of events is empty"}])
    if len(value) > max_events:
        raise EventError([{"loc": "", "msg": f"at most {max_events} events per message"}])
    try:
        return _EVENT_LIST_ADAPTER.validate_python(value)
    except ValidationError:  # name the first broken event, or take data_base64 ones
        return [parse_event(item, prefix=str(index)) for index, item in enumerate(value)]


def event_to_json(event: CanonicalEvent) -> bytes:
    """Serialise an event as CloudEvents structured JSON (extensions included; unset
    attributes left out, as json-format.md 3 allows)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


__all__ = [
    "ATTRIBUTE_NAME",
    "CORE_ATTRIBUTES",
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "VEHICLE_SUBJECT",
    "CanonicalEvent",
    "ChargeRecorded",
    "CustomsUpdated",
    "EventError",
    "EventType",
    "PodReceived",
    "PositionReported",
    "ShipmentMilestone",
    "ShipmentUpserted",
    "VehicleAssigned",
    "decode_json",
    "decode_partner_json",
    "describe",
    "event_to_json",
    "parse_all_or_none",
    "parse_decoded",
    "parse_event",
    "parse_events",
    "stored_form",
    "structured",
]
