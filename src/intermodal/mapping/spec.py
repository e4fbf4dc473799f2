"""A partner's mapping file: read, checked, and applied to one raw message.

```yaml
reader: json                      # json | x12_214 | edifact_iftsta | package.module:function
timezone: America/Chicago         # the partner's clock (IANA name), for times without a zone
source: "swiftparcel"             # CloudEvents `source` of the events (default partner:<name>)
match: first                      # first: the first message kind whose `when` holds;
                                  # all: every kind whose `when` holds (mixed EDI files)
messages:                         # the inbound message kinds, tried in order
  - name: tracking_update
    when: "kind = 'tracking'"     # JSONata over the whole document (default: always)
    each: "updates"               # JSONata giving the items that are events (default: doc)
    event:                        # JSONata per item; `$doc` is the whole document
      id: "'swift-' & update_id"
      subject: "shipment.reference"
      time: "occurred"            # or "$datetime(date, time)": split date and time joined
      zone: "location.tz"         # optional: whose clock a zone-less `time` is on (IANA
                                  # name or +HH:MM from the payload; default `timezone:`)
      status: "code"              # looked up in `statuses`
      reason: "reason"            # looked up in `reasons` when that table has it
      location: "{'city': city, 'country': country}"
      tracking_number: "tracking"
      quantities: "lines.{'product': sku, 'quantity': picked}"   # what a warehouse picked
  - name: proof_of_delivery         # any other canonical event type: `data` gives its data
    when: "kind = 'pod'"
    type: intermodal.pod.received
    event:
      id: "'swift-pod-' & id"
      subject: "shipment.reference"
      time: "signed_at"
      data: "{'delivered_at': signed_at, 'signed_by': signer}"
  - name: position                  # or `data` as an object: one expression per field
    when: "kind = 'gps'"            # (a field that gives nothing is left out); plain
    each: "fixes"                   # paths cost nothing, where a JSONata object
    type: intermodal.position.reported   # constructor costs ~0.1 ms an item
    event:
      id: "fix_id"
      subject: "$doc.shipment"
      time: "at"
      data: {latitude: lat, longitude: lon, recorded_at: at, speed_kmh: kmh}
statuses:                         # partner code -> milestone, or {milestone, reason}, or null
  DL: delivered
  EX01: {milestone: exception, reason: "damaged in transit"}
  AP: null                        # known, carries no milestone: skipped
reasons:
  NS: "normal status"
```

Everything about a partner's dialect stays in this file; the code below knows only
canonical events. It is pure: bytes in, events out, no I/O but reading the file.

Times without a zone. A canonical time needs an offset. When a time the mapping produces
(the event's `time`, and with it a milestone's `occurred_at`; the times inside `data`:
`delivered_at`, `occurred_at`, stop windows) has none, it is read on the item's `zone:`
when that gives one, else on the mapping's `timezone:`. EDI mappings default `timezone:`
to UTC, as before (their readers already resolve X12 time codes and EDIFACT formats).
JSON mappings and partners' own readers have no default: a carrier's zone-less local time
read as UTC would be hours off without anyone noticing, so such an event cannot be read
until the mapping says whose clock it is, and the reason says so.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from intermodal.canonical.events import (
    URI_REFERENCE,
    CanonicalEvent,
    EventError,
    EventType,
    parse_event,
)
from intermodal.canonical.model import MilestoneType
from intermodal.edi.errors import Mode
from intermodal.engine.normalize import Normalized, NormalizeError, Skipped
from intermodal.errors import ConfigurationError
from intermodal.mapping.expressions import Expression, ExpressionError
from intermodal.mapping.readers import ReadContext, Reader, find_reader
from intermodal.mapping.times import has_no_zone, iana_zone, localized, zone_of
from intermodal.yaml_loader import load_yaml

_MILESTONE_FIELDS = ("status", "milestone", "reason", "location", "tracking_number", "quantities")
_FIELDS = ("id", "subject", "time", "zone", *_MILESTONE_FIELDS, "data")
_REQUIRED = ("id", "subject", "time")
_SOURCE = re.compile(URI_REFERENCE)
"""Every event a mapping makes carries its `source`: a bad one is refused at load, not
per event at normalize."""
_SIMPLE_STEP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EDI_READERS = frozenset({"x12", "x12_214", "edifact", "edifact_iftsta"})
DATA_TIMES: dict[EventType, tuple[tuple[str, ...], ...]] = {
    EventType.SHIPMENT_MILESTONE: (("occurred_at",),),
    EventType.POD_RECEIVED: (("delivered_at",),),
    EventType.CUSTOMS_UPDATED: (("occurred_at",),),
    EventType.CHARGE_RECORDED: (),
    EventType.SHIPMENT_UPSERTED: (
        ("customs", "occurred_at"),
        ("stops", "*", "window", "start"),
        ("stops", "*", "window", "end"),
    ),
    EventType.POSITION_REPORTED: (("recorded_at",),),
    EventType.VEHICLE_ASSIGNED: (("assigned_at",), ("until",)),
}
"""Where each event type's data holds times (`*`: every element of a list): the times a
zone-less value is localized in. A test checks it against the canonical models."""


class MappingError(ConfigurationError, ValueError):
    """A mapping file that cannot be used, with every problem it has."""

    def __init__(self, problems: list[str], source: Path | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        super().__init__(f"{len(problems)} mapping problem(s){where}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusEntry(_Strict):
    milestone: MilestoneType
    reason: str | None = None


class MessageSpec(_Strict):
    name: str
    when: str | None = None
    each: str | None = None
    type: EventType = EventType.SHIPMENT_MILESTONE
    event: dict[str, str | dict[str, str]]
    """An expression per field; `data` may instead be an object of expressions, one per
    field of the canonical data (flat), each evaluated on its own."""

    @model_validator(mode="after")
    def _fields(self) -> MessageSpec:
        value = self.event
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown event field(s) {unknown}; known: {list(_FIELDS)}")
        objects = sorted(
            name for name, v in value.items() if isinstance(v, dict) and name != "data"
        )
        if objects:
            raise ValueError(f"{objects}: only 'data' may be an object of expressions")
        missing = [f for f in _REQUIRED if f not in value]
        if missing:
            raise ValueError(f"missing event field(s) {missing}")
        if self.type is EventType.SHIPMENT_MILESTONE:
            if "data" in value:
                raise ValueError("a milestone's data comes from status/milestone, not 'data'")
            if ("status" in value) == ("milestone" in value):
                raise ValueError("give exactly one of 'status' (looked up) or 'milestone'")
        else:
            if "data" not in value:
                raise ValueError(f"type {self.type.value} needs 'data' (its canonical data)")
            extra = sorted(set(value) & set(_MILESTONE_FIELDS))
            if extra:
                raise ValueError(f"{extra} belong to milestones; put them in 'data'")
        return self


class MappingFile(_Strict):
    reader: str = "json"
    timezone: str | None = None
    source: str | None = None
    messages: list[MessageSpec]
    statuses: dict[str, MilestoneType | StatusEntry | None] = {}
    reasons: dict[str, str] = {}
    kind: Literal["inbound"] = "inbound"
    match: Literal["first", "all"] = "first"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        # A misspelt zone must stop the hub at start: read as UTC it would shift every time.
        if value is not None:
            iana_zone(value)
        return value


@dataclass(frozen=True)
class _Message:
    name: str
    when: Expression | None
    each: Expression | None
    event: dict[str, Expression]
    type: EventType = EventType.SHIPMENT_MILESTONE
    data_fields: dict[str, Expression] | None = None
    """`data` given as an object: each field's own expression."""


@dataclass
class Mapping:
    """A checked mapping, ready to turn a partner's raw messages into canonical events."""

    partner: str
    reader: Reader
    reader_name: str
    messages: list[_Message]
    statuses: dict[str, StatusEntry | None]
    reasons: dict[str, str]
    timezone: str | None = None
    """The partner's clock (an IANA name); None: UTC for EDI readers, no default for JSON."""
    source: str = ""
    path: Path | None = None
    mode: Mode = "reject"
    match: Literal["first", "all"] = "first"
    default_zone: tzinfo | None = field(init=False, default=None)
    """Where a zone-less time is read when its item names no zone (module docstring)."""

    def __post_init__(self) -> None:
        if self.timezone is not None:
            self.default_zone = iana_zone(self.timezone)
        elif self.reader_name in _EDI_READERS:
            self.default_zone = UTC

    def parse(self, raw: bytes) -> list[CanonicalEvent]:
        """`parse_<message>(raw) -> list[CanonicalEvent]`, or NormalizeError with a path.

        All or nothing: the first item that cannot be read raises (with every skipped item
        in `skipped`), which is what a test or `mapping try` of a sample wants. The hub
        uses `normalize`, which applies the readable items of a message."""
        normalized = self.normalize(raw)
        if normalized.skipped:
            first = normalized.skipped[0]
            raise NormalizeError(first.reason, first.path, normalized.skipped)
        return [event for event, _ in normalized]

    def normalize(self, raw: bytes) -> Normalized:
        """Each event with the JSON object the mapping produced for it (the timeline's),
        and in `skipped` the items that cannot be read, each with its path and reason.

        What concerns the whole message raises NormalizeError: bytes the reader cannot
        read, no message kind matching, a `when` or `each` that fails, and a message
        whose items all failed (nothing would be applied, so it is rejected whole)."""
        context = ReadContext(self.partner, self.mode, self.timezone or "UTC")
        document = self.reader(raw, context)
        bindings = {"doc": document}
        out = Normalized()
        matched = False
        for message in self.messages:
            if message.when is not None and not _truthy(
                _evaluate(message.when, document, bindings, "$", f"{message.name}.when")
            ):
                continue
            matched = True
            self._events(message, document, bindings, out)
            if self.match == "first":
                break
        if not matched:
            names = ", ".join(m.name for m in self.messages)
            said = f"no message kind of this mapping matches (tried: {names})"
            raise _nothing_to_map(context, said, self.reader_name)
        if out.skipped and not out:
            raise _nothing_readable(out.skipped)
        if not out and context.dropped:  # the only sets were dropped: say so, not "applied"
            raise _nothing_to_map(context, "nothing to map", self.reader_name)
        return out

    def _events(
        self, message: _Message, document: Any, bindings: dict[str, Any], out: Normalized
    ) -> None:
        """Each item's event into `out`, or the item into `out.skipped` with why."""
        if message.each is None:
            items, prefix = [document], None
        else:
            found = _evaluate(message.each, document, bindings, "$", f"{message.name}.each")
            items = [] if found is None else found if isinstance(found, list) else [found]
            path = message.each.path
            prefix = "$." + ".".join(path) if path else f"$ ({message.name}.each)"
        for index, item in enumerate(items):
            item_path = "$" if prefix is None else f"{prefix}[{index}]"
            try:
                built = self._event(message, item, bindings, item_path)
            except NormalizeError as exc:
                out.skipped.append(Skipped(exc.path, exc.reason))
                continue
            if built is not None:
                out.append(built)

    def _event(
        self, message: _Message, item: Any, bindings: dict[str, Any], item_path: str
    ) -> tuple[CanonicalEvent, dict[str, Any]] | None:
        values: dict[str, Any] = {}
        for name, expression in message.event.items():
            values[name] = _field(expression, item, bindings, item_path, name, f"event.{name}")
            if name in _REQUIRED and values[name] in (None, ""):
                where = _path_of(item, item_path, expression, name)
                raise NormalizeError(f"event.{name}: `{expression.source}` gave nothing", where)
        if message.data_fields is not None:
            fields: dict[str, Any] = {}
            for name, expression in message.data_fields.items():
                found = _field(expression, item, bindings, item_path, name, f"event.data.{name}")
                if found is not None:
                    fields[name] = found
            values["data"] = fields
        self._localize(message, item, item_path, values)
        if message.type is not EventType.SHIPMENT_MILESTONE:
            return self._other(message, item, item_path, values)
        reason = values.get("reason")
        if "status" in message.event:
            code = values["status"]
            where = _path_of(item, item_path, message.event["status"], "code")
            if code is None or not isinstance(code, str | int):
                raise NormalizeError("no status code", where)
            key = str(code)
            if key not in self.statuses:
                raise NormalizeError(  # the code itself is at `where`, in the payload
                    f"the status code is not in the status table of partner {self.partner}"
                    f" (add it to statuses: in {self.path or 'the mapping'})",
                    where,
                )
            entry = self.statuses[key]
            if entry is None:
                return None  # known code that asserts no milestone
            milestone: Any = entry.milestone.value
            reason = entry.reason or reason
        else:
            milestone = values["milestone"]
        if isinstance(reason, str | int) and str(reason) in self.reasons:
            reason = self.reasons[str(reason)]
        data: dict[str, Any] = {"milestone": milestone, "occurred_at": values["time"]}
        for name in ("location", "tracking_number"):
            if values.get(name) not in (None, "", {}):
                data[name] = values[name]
        quantities = values.get("quantities")
        if quantities not in (None, "", {}):
            # JSONata gives a lone object, not a list, when the path matched one item.
            data["quantities"] = quantities if isinstance(quantities, list) else [quantities]
        if reason not in (None, ""):
            data["reason"] = str(reason)
        event = {
            "specversion": "1.0",
            "id": str(values["id"]),
            "source": self.source,
            "type": EventType.SHIPMENT_MILESTONE.value,
            "subject": str(values["subject"]),
            "time": values["time"],
            "data": data,
        }
        return _checked(event, message, item, item_path, {"data.occurred_at": "time"})

    def _localize(
        self, message: _Message, item: Any, item_path: str, values: dict[str, Any]
    ) -> None:
        """Give the event's zone-less times their zone (module docstring), in `values`."""
        zone: tzinfo | None = None
        if has_no_zone(values["time"]):
            zone = self._zone(message, item, item_path, values, "time", values["time"])
            values["time"] = localized(values["time"], zone)
        data = values.get("data")
        if message.type is EventType.SHIPMENT_MILESTONE or not isinstance(data, dict):
            return
        naive = [
            (".".join(steps), holder[key])
            for steps in DATA_TIMES[message.type]
            for holder, key in _time_slots(data, steps)
            if has_no_zone(holder[key])
        ]
        if not naive:
            return
        if zone is None:
            zone = self._zone(message, item, item_path, values, f"data.{naive[0][0]}", naive[0][1])
        data = values["data"] = copy.deepcopy(data)  # it may be the payload's own object
        for steps in DATA_TIMES[message.type]:
            for holder, key in _time_slots(data, steps):
                if has_no_zone(holder[key]):
                    holder[key] = localized(holder[key], zone)

    def _zone(
        self,
        message: _Message,
        item: Any,
        item_path: str,
        values: dict[str, Any],
        what: str,
        value: str,
    ) -> tzinfo:
        """The item's own `zone:` when it gives one, else the mapping's default; a
        NormalizeError when neither says whose clock a zone-less time is on."""
        given = values.get("zone")
        if given not in (None, ""):
            where = _path_of(item, item_path, message.event["zone"], "zone")
            if not isinstance(given, str):
                kind = type(given).__name__
                raise NormalizeError(f"event.zone must give text, not {kind}", where)
            try:
                return zone_of(given)
            except ValueError:
                raise NormalizeError(
                    "event.zone: not an IANA time zone name or a +HH:MM offset"
                    " (e.g. America/Chicago, -05:00)",
                    where,
                ) from None
        if self.default_zone is not None:
            return self.default_zone
        field_name = "time" if what == "time" else "data"
        zone_said = "its `zone:` gave nothing" if "zone" in message.event else "no `zone:`"
        raise NormalizeError(
            f"event.{what} has no UTC offset; the event has {zone_said} and"
            f" the mapping no `timezone:` (say whose clock it is: `timezone: America/Chicago`"
            f" in {self.path or 'the mapping'}, or an event `zone:` from the payload)",
            _path_of(item, item_path, message.event.get(field_name), field_name),
        )

    def _other(
        self, message: _Message, item: Any, item_path: str, values: dict[str, Any]
    ) -> tuple[CanonicalEvent, dict[str, Any]]:
        """A POD, charge, customs status or shipment: `data` is the canonical data itself."""
        data = values.get("data")
        if not isinstance(data, dict):
            where = _path_of(item, item_path, message.event["data"], "data")
            kind = type(data).__name__
            raise NormalizeError(f"event.data must give an object, not {kind}", where)
        event = {
            "specversion": "1.0",
            "id": str(values["id"]),
            "source": self.source,
            "type": message.type.value,
            "subject": str(values["subject"]),
            "time": values["time"],
            "data": data,
        }
        return _checked(event, message, item, item_path, {})


def _checked(
    event: dict[str, Any], message: _Message, item: Any, item_path: str, fields: dict[str, str]
) -> tuple[CanonicalEvent, dict[str, Any]]:
    """The event validated as canonical, or a NormalizeError naming where its value came from."""
    try:
        return parse_event(event), event
    except EventError as exc:
        first = exc.problems[0] if exc.problems else {"loc": "", "msg": str(exc)}
        loc = str(first.get("loc", ""))
        field_name = fields.get(loc, loc.split(".")[-1])
        expression = message.event.get(field_name)
        if expression is None and loc.startswith("data.") and message.data_fields:
            expression = message.data_fields.get(loc.split(".")[1])
        if expression is None and loc.startswith("data"):
            field_name, expression = "data", message.event.get("data")
        where = _path_of(item, item_path, expression, field_name)
        raise NormalizeError(f"canonical {loc or 'event'}: {first['msg']}", where) from None


def _nothing_to_map(context: ReadContext, reason: str, reader_name: str) -> NormalizeError:
    """Why a message left nothing to map: the sets or messages the EDI reader dropped and
    the parser's reasons ("set dropped: SE01 says 41 segments, ..."), else `reason` with
    any warning the parser gave."""
    if context.dropped:
        noun = "message" if reader_name.startswith("edifact") else "set"  # UNH..UNT, ST..SE
        said = "; ".join(f"{noun} dropped: {w.message}" for w in context.dropped[:10])
        more = len(context.dropped) - 10
        said += f"; and {more} more problem(s)" if more > 0 else ""
        return NormalizeError(said, context.dropped[0].where.describe() or "$")
    if context.warnings:
        said = "; ".join(str(w) for w in context.warnings[:5])
        return NormalizeError(f"{reason} (the parser warned: {said})", "$")
    return NormalizeError(reason, "$")


def _nothing_readable(skipped: list[Skipped]) -> NormalizeError:
    """The rejection of a message none of whose items could be read: the first item's
    reason and path, and where the others are."""
    first, others = skipped[0], skipped[1:]
    reason = first.reason
    if others:
        paths = ", ".join(s.path for s in others[:10]) + (", ..." if len(others) > 10 else "")
        noun = "item" if len(others) == 1 else "items"
        reason += f" (and {len(others)} more {noun} that cannot be read: {paths})"
    return NormalizeError(reason, first.path, skipped)


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, [], {})


def _time_slots(data: Any, steps: tuple[str, ...]) -> list[tuple[dict[str, Any], str]]:
    """The (object, key) pairs holding a time at `steps` of `data` (`*`: each list item)."""
    holders: list[Any] = [data]
    for step in steps[:-1]:
        found: list[Any] = []
        for holder in holders:
            if step == "*":
                found.extend(holder if isinstance(holder, list) else [])
            elif isinstance(holder, dict) and step in holder:
                found.append(holder[step])
        holders = found
    last = steps[-1]
    return [(h, last) for h in holders if isinstance(h, dict) and h.get(last) is not None]


def _field(
    expression: Expression,
    item: Any,
    bindings: dict[str, Any],
    item_path: str,
    name: str,
    what: str,
) -> Any:
    """A field's value; where it came from is worked out only when it fails (the usual
    item has a dozen fields and fails none: the path of each cost more than its value)."""
    try:
        return expression.evaluate(item, bindings)
    except ExpressionError:
        where = _path_of(item, item_path, expression, name)
        return _evaluate(expression, item, bindings, where, what, item_path)


def _evaluate(
    expression: Expression,
    item: Any,
    bindings: dict[str, Any],
    where: str,
    what: str,
    item_path: str | None = None,
) -> Any:
    """The expression's value, or a NormalizeError at `where` (at the argument that was
    wrong, when the expression knows it and the item is JSON)."""
    try:
        return expression.evaluate(item, bindings)
    except ExpressionError as exc:
        if exc.path and item_path is not None and not (isinstance(item, dict) and "_at" in item):
            where = item_path + "." + ".".join(exc.path)
        raise NormalizeError(f"{what}: {exc}", where) from None


def _path_of(item: Any, item_path: str, expression: Expression | None, name: str) -> str:
    """Where a field's value came from: the EDI segment and element the reader recorded
    (`_at`), else the JSON path of a plain expression, else the item's path."""
    at = item.get("_at") if isinstance(item, dict) else None
    steps = expression.path if expression is not None else None
    if isinstance(at, dict):
        for key in (steps[0] if steps else None, name):
            if key is not None and isinstance(at.get(key), str):
                return str(at[key])
        if isinstance(at.get("segment"), str):
            return str(at["segment"])
    if steps and all(_SIMPLE_STEP.match(s) for s in steps):
        return item_path + "." + ".".join(steps)
    return item_path


def load_mapping(path: Path, partner: str, mode: Mode = "reject") -> Mapping:
    """Read and check a mapping file; MappingError lists every problem found."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError([f"cannot read {path}: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise MappingError([f"not valid YAML: {exc}"], path) from None
    return mapping_from_data(raw, partner, mode, path)


def mapping_from_data(
    raw: Any, partner: str, mode: Mode = "reject", path: Path | None = None
) -> Mapping:
    if isinstance(raw, dict):
        # YAML reads `21:` as an int; partner codes are text (EDIFACT STS codes are digits).
        raw = {
            key: {str(k): v for k, v in value.items()}
            if key in ("statuses", "reasons") and isinstance(value, dict)
            else value
            for key, value in raw.items()
        }
    try:
        parsed = MappingFile.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(
            [
                f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            ],
            path,
        ) from None
    problems: list[str] = []
    if parsed.source is not None and not _SOURCE.fullmatch(parsed.source):
        problems.append(
            f"source: '{parsed.source}' is not a URI-reference (CloudEvents `source`),"
            " e.g. 'fedex' or 'https://carrier.example/tracking'"
        )

    def compile_(source: str | None, where: str) -> Expression | None:
        if source is None:
            return None
        try:
            return Expression(source)
        except ExpressionError as exc:
            problems.append(f"{where}: {exc}")
            return None

    messages = []
    for i, m in enumerate(parsed.messages):
        event = {
            name: compiled
            for name, src in m.event.items()
            if isinstance(src, str)
            and (compiled := compile_(src, f"messages.{i}.event.{name}")) is not None
        }
        given = m.event.get("data")
        data_fields = None
        if isinstance(given, dict):
            data_fields = {
                name: compiled
                for name, src in given.items()
                if (compiled := compile_(src, f"messages.{i}.event.data.{name}")) is not None
            }
        messages.append(
            _Message(
                m.name,
                compile_(m.when, f"messages.{i}.when"),
                compile_(m.each, f"messages.{i}.each"),
                event,
                m.type,
                data_fields,
            )
        )
    reader: Reader | None = None
    try:
        reader = find_reader(parsed.reader)
    except ValueError as exc:
        problems.append(f"reader: {exc}")
    if problems or reader is None:
        raise MappingError(problems, path)
    statuses = {
        code: StatusEntry(milestone=entry) if isinstance(entry, MilestoneType) else entry
        for code, entry in parsed.statuses.items()
    }
    return Mapping(
        partner=partner,
        reader=reader,
        reader_name=parsed.reader,
        messages=messages,
        statuses=statuses,
        reasons=parsed.reasons,
        timezone=parsed.timezone,
        source=parsed.source or f"partner:{partner}",
        path=path,
        mode=mode,
        match=parsed.match,
    )
