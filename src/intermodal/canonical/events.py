"""The CloudEvents 1.0 envelope every canonical event travels in.

One envelope class per event type, discriminated by `type`, so that the JSON Schema says
exactly which `data` goes with which type and pydantic picks the right one in a single
pass (the hot path validates thousands of these per second).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from intermodal.canonical.model import (
    Charge,
    CustomsStatus,
    Key,
    MilestoneEvent,
    ProofOfDelivery,
    Shipment,
)
from intermodal.errors import InvalidInput


class EventType(StrEnum):
    """`intermodal.<entity>.<verb>`: the closed set of canonical event types."""

    SHIPMENT_UPSERTED = "intermodal.shipment.upserted"
    SHIPMENT_MILESTONE = "intermodal.shipment.milestone"
    POD_RECEIVED = "intermodal.pod.received"
    CHARGE_RECORDED = "intermodal.charge.recorded"
    CUSTOMS_UPDATED = "intermodal.customs.updated"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)

_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_CORE_ATTRIBUTES = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "data",
    }
)

EventId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
SourceRef = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class _Envelope(BaseModel):
    """CloudEvents 1.0 core attributes; extension attributes must be lowercase alphanumeric
    scalars, as the spec requires, so they can be carried as HTTP headers unchanged."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: EventId
    source: SourceRef
    subject: Key
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: Annotated[str, StringConstraints(max_length=2048)] | None = None

    @model_validator(mode="after")
    def _extensions(self) -> Self:
        for name, value in (self.model_extra or {}).items():
            if not _EXTENSION_NAME.match(name):
                raise ValueError(
                    f"extension attribute '{name}' must be 1-20 lowercase letters or digits"
                )
            if not isinstance(value, str | int | bool) or (
                isinstance(value, str) and len(value) > 1024
            ):
                raise ValueError(f"extension attribute '{name}' must be a short scalar")
        return self

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ShipmentUpserted(_Envelope):
    type: Literal[EventType.SHIPMENT_UPSERTED]
    data: Shipment

    @model_validator(mode="after")
    def _subject_is_key(self) -> Self:
        if self.data.key != self.subject:
            raise ValueError(f"subject '{self.subject}' differs from data.key '{self.data.key}'")
        return self


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


CanonicalEvent = Annotated[
    ShipmentUpserted | ShipmentMilestone | PodReceived | ChargeRecorded | CustomsUpdated,
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


def describe(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Turn pydantic's error list into `{loc, msg}` pairs a partner can act on.

    The discriminator tag (the event type) is dropped from the path: a partner thinks in
    `data.milestone`, not in `intermodal.shipment.milestone.data.milestone`.
    """
    problems = []
    for err in error.errors(include_url=False, include_input=False):
        parts = [str(p) for p in err["loc"] if str(p) not in EVENT_TYPES]
        loc = ".".join(filter(None, [prefix, *parts]))
        problems.append({"loc": loc, "msg": err["msg"]})
    return problems


def parse_event(value: Any, prefix: str = "") -> CanonicalEvent:
    """Validate one decoded JSON value as a canonical event or raise EventError."""
    if not isinstance(value, dict):
        raise EventError([{"loc": prefix, "msg": "an event must be a JSON object"}])
    if value.get("type") not in EVENT_TYPES:
        allowed = ", ".join(sorted(EVENT_TYPES))
        raise EventError(
            [
                {
                    "loc": f"{prefix}.type" if prefix else "type",
                    "msg": f"type must be one of {allowed}",
                }
            ]
        )
    try:
        return EVENT_ADAPTER.validate_python(value)
    except ValidationError as exc:
        raise EventError(describe(exc, prefix)) from None


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
    except ValidationError:
        for index, item in enumerate(value):
            parse_event(item, prefix=str(index))
        raise


def event_to_json(event: CanonicalEvent) -> bytes:
    """Serialise an event as CloudEvents structured JSON (extensions included)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "CanonicalEvent",
    "ChargeRecorded",
    "CustomsUpdated",
    "EventError",
    "EventType",
    "PodReceived",
    "ShipmentMilestone",
    "ShipmentUpserted",
    "decode_json",
    "describe",
    "event_to_json",
    "parse_all_or_none",
    "parse_decoded",
    "parse_event",
    "parse_events",
]
