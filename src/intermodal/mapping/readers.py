"""Readers: raw bytes -> the JSON document a mapping's expressions read.

JSON partners need nothing but decoding. EDI needs Python: the codecs in `intermodal.edi`
find the segments, and the readers here walk the loops of a 214 or an IFTSTA and combine
what expressions cannot (date + time + time-zone code into one instant). Each status they
emit carries `_at`: where in the document each of its values came from (segment number
and element), so a mapping error names the segment and element, not a JSON path the
partner never sent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from intermodal.edi.edifact import parse_edifact
from intermodal.edi.errors import EdiError, Mode, Segment
from intermodal.edi.x12 import parse_x12
from intermodal.engine.normalize import NormalizeError


@dataclass(frozen=True, slots=True)
class ReadContext:
    partner: str
    mode: Mode = "reject"
    timezone: str = "UTC"
    """Where the partner's clock is when its EDI times carry no zone (X12 `LT`, EDIFACT 203)."""


Reader = Callable[[bytes, ReadContext], Any]


def read_json(raw: bytes, context: ReadContext) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NormalizeError(f"body is not valid JSON: {exc}", "$") from None


# X12 time codes (element 623) -> a zone. Standard/daylight codes are fixed offsets; the
# bare ones follow the region's clock.
_X12_ZONES: dict[str, tzinfo] = {
    "UT": UTC,
    "GM": UTC,
    "ET": ZoneInfo("America/New_York"),
    "CT": ZoneInfo("America/Chicago"),
    "MT": ZoneInfo("America/Denver"),
    "PT": ZoneInfo("America/Los_Angeles"),
    "AT": ZoneInfo("America/Halifax"),
    "AK": ZoneInfo("America/Anchorage"),
    "HT": ZoneInfo("Pacific/Honolulu"),
    "ES": timezone(timedelta(hours=-5)),
    "ED": timezone(timedelta(hours=-4)),
    "CS": timezone(timedelta(hours=-6)),
    "CD": timezone(timedelta(hours=-5)),
    "MS": timezone(timedelta(hours=-7)),
    "MD": timezone(timedelta(hours=-6)),
    "PS": timezone(timedelta(hours=-8)),
    "PD": timezone(timedelta(hours=-7)),
}


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return UTC


def _edi_error(exc: EdiError, partner: str) -> NormalizeError:
    return NormalizeError(exc.message, exc.with_context(partner, None).where.describe())


def _where(segment: Segment, position: int | None = None, component: int | None = None) -> str:
    return segment.where(position, component).describe()


def _x12_instant(at7: Segment, context: ReadContext) -> str:
    date, clock, code = at7.value(5), at7.value(6), at7.value(7)
    if len(date) != 8 or not date.isdigit():
        raise NormalizeError("a status date must be CCYYMMDD", _where(at7, 5))
    if len(clock) not in (4, 6) or not clock.isdigit():
        raise NormalizeError("a status time must be HHMM or HHMMSS", _where(at7, 6))
    zone = _X12_ZONES.get(code) if code and code != "LT" else _zone(context.timezone)
    if zone is None:
        raise NormalizeError(f"unknown time code '{code}'", _where(at7, 7))
    try:
        local = datetime.strptime(date + clock.ljust(6, "0"), "%Y%m%d%H%M%S")
    except ValueError:
        raise NormalizeError("not a real date and time", _where(at7, 5)) from None
    return local.replace(tzinfo=zone).astimezone(UTC).isoformat()


def read_x12_214(raw: bytes, context: ReadContext) -> Any:
    """Every AT7 of every 214 as a status, with its shipment's references (B10, L11), its
    place (MS1) and equipment (MS2). Sets the partner's mode found faulty are left out:
    the 997 rejected them and the partner resends them."""
    try:
        document = parse_x12(raw, context.mode, partner=context.partner)
    except EdiError as exc:
        raise _edi_error(exc, context.partner) from None
    statuses: list[dict[str, Any]] = []
    interchanges = [
        {"control_number": ic.control_number, "sender": ic.sender, "receiver": ic.receiver}
        for ic in document.interchanges
    ]
    for ic, _group, tx in document.transactions():
        if tx.set_id != "214" or tx.problems:
            continue
        shipment: dict[str, Any] = {"interchange": ic.control_number, "set": tx.control_number}
        references: dict[str, str] = {}
        current: dict[str, Any] | None = None
        for seg in tx.segments:
            if seg.tag == "B10":
                shipment.update(reference=seg.value(1), shipment_id=seg.value(2), scac=seg.value(3))
            elif seg.tag == "L11" and seg.value(1):
                references[seg.value(2) or "ZZ"] = seg.value(1)
            elif seg.tag == "AT7":
                current = {
                    **shipment,
                    "references": references,
                    "code": seg.value(1) or seg.value(3),
                    "reason": seg.value(2) or seg.value(4),
                    "occurred_at": _x12_instant(seg, context),
                    "_at": {
                        "segment": _where(seg),
                        "code": _where(seg, 1 if seg.value(1) else 3),
                        "reason": _where(seg, 2 if seg.value(2) else 4),
                        "occurred_at": _where(seg, 5),
                    },
                }
                statuses.append(current)
            elif seg.tag == "MS1" and current is not None:
                current.update(city=seg.value(1), state=seg.value(2), country=seg.value(3))
            elif seg.tag == "MS2" and current is not None:
                current.update(equipment=seg.value(2))
    return {"interchanges": interchanges, "statuses": statuses}


def _edifact_instant(dtm: Segment, context: ReadContext) -> str:
    value, fmt = dtm.value(1, 2), dtm.value(1, 3) or "203"
    layouts = {"203": "%Y%m%d%H%M", "102": "%Y%m%d", "204": "%Y%m%d%H%M%S"}
    try:
        if fmt == "303":  # CCYYMMDDHHMMZZZ: zone as a UTC offset in hours
            local = datetime.strptime(value[:12], "%Y%m%d%H%M")
            offset = timezone(timedelta(hours=int(value[12:].lstrip("+") or "0")))
            return local.replace(tzinfo=offset).astimezone(UTC).isoformat()
        if fmt not in layouts:
            raise NormalizeError(f"date format '{fmt}' is not supported", _where(dtm, 1, 3))
        local = datetime.strptime(value, layouts[fmt])
    except ValueError:
        raise NormalizeError(f"'{value}' is not a {fmt} date", _where(dtm, 1, 2)) from None
    return local.replace(tzinfo=_zone(context.timezone)).astimezone(UTC).isoformat()


def read_edifact_iftsta(raw: bytes, context: ReadContext) -> Any:
    """Every STS of every IFTSTA as a status, with its consignment (CNI02), the event time
    (DTM+334 after the STS), its place (LOC) and references (RFF)."""
    try:
        document = parse_edifact(raw, context.mode, partner=context.partner)
    except EdiError as exc:
        raise _edi_error(exc, context.partner) from None
    statuses: list[dict[str, Any]] = []
    for ic, _group, message in document.messages():
        if message.type != "IFTSTA" or message.problems:
            continue
        base: dict[str, Any] = {"interchange": ic.control_reference, "message": message.reference}
        current: dict[str, Any] | None = None
        for seg in message.segments:
            if seg.tag == "BGM":
                base["document_number"] = seg.value(2)
            elif seg.tag == "CNI":
                base["consignment"] = seg.value(2)
                current = None
            elif seg.tag == "STS":
                current = {
                    **base,
                    "references": {},
                    "category": seg.value(1),
                    "code": seg.value(2),
                    "reason": seg.value(3),
                    "occurred_at": None,
                    "_at": {
                        "segment": _where(seg),
                        "code": _where(seg, 2),
                        "reason": _where(seg, 3),
                        "occurred_at": _where(seg),
                    },
                }
                statuses.append(current)
            elif current is None:
                continue
            elif seg.tag == "DTM" and seg.value(1, 1) == "334":
                current["occurred_at"] = _edifact_instant(seg, context)
                current["_at"]["occurred_at"] = _where(seg, 1, 2)
            elif seg.tag == "LOC":
                current.update(
                    location_code=seg.value(2, 1),
                    location_name=seg.value(2, 4) or seg.value(3, 4),
                )
            elif seg.tag == "RFF":
                current["references"][seg.value(1, 1)] = seg.value(1, 2)
    return {"statuses": statuses}


READERS: dict[str, Reader] = {
    "json": read_json,
    "x12_214": read_x12_214,
    "edifact_iftsta": read_edifact_iftsta,
}


def find_reader(name: str) -> Reader:
    """A built-in reader by name, or a partner's own as `package.module:function`."""
    if name in READERS:
        return READERS[name]
    module_name, _, attribute = name.partition(":")
    if not attribute:
        known = ", ".join(sorted(READERS))
        raise ValueError(f"unknown reader '{name}' (built in: {known}; or package.module:function)")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"reader '{name}' cannot be imported: {exc}") from None
    if not callable(found):
        raise ValueError(f"reader '{name}' is not callable")
    reader: Reader = found
    return reader
