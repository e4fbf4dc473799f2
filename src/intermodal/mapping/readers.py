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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from intermodal.edi.edifact import parse_edifact
from intermodal.edi.errors import EdiError, EdiWarning, Mode, Segment
from intermodal.edi.x12 import parse_x12
from intermodal.engine.normalize import NormalizeError


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What a reader knows of the message's partner, and what it found besides the document.

    `warnings` and `dropped` are filled by the EDI readers in warn mode, so that a message
    left with nothing to map says why ("set dropped: SE01 says 9 segments, ...") instead of
    "no message kind matches"."""

    partner: str
    mode: Mode = "reject"
    timezone: str = "UTC"
    """Where the partner's clock is when its EDI times carry no zone (X12 `LT`, EDIFACT 203)."""
    warnings: list[EdiWarning] = field(default_factory=list)
    """Every warning the parser gave about the document."""
    dropped: list[EdiWarning] = field(default_factory=list)
    """The problems of each transaction set or message the reader left out for them."""


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


def _id(seg: Segment, position: int, component: int = 1) -> str:
    """An identifier or code (SCAC, shipment id, reference, qualifier, date, time): padding
    means nothing there, so whitespace around it is dropped and " ABCD" is the SCAC "ABCD".
    Free text (names, streets, cities, notes, remarks) is read with `seg.value`, as sent."""
    return seg.value(position, component).strip()


def _x12_moment(
    seg: Segment, date_at: int, time_at: int, code_at: int, context: ReadContext
) -> str | None:
    """A CCYYMMDD date, an optional time (element 337: HHMM, HHMMSS, HHMMSSD or HHMMSSDD;
    none is midnight) and an optional time code (element 623; none or `LT` is the partner's
    `timezone`), as a UTC ISO instant. None when the date is empty."""
    date, clock, code = _id(seg, date_at), _id(seg, time_at), _id(seg, code_at)
    if date == "":
        return None
    if len(date) != 8 or not (date.isascii() and date.isdigit()):
        raise NormalizeError("a date must be CCYYMMDD", _where(seg, date_at))
    if clock and (len(clock) not in (4, 6, 7, 8) or not (clock.isascii() and clock.isdigit())):
        raise NormalizeError("a time must be HHMM, HHMMSS or HHMMSSD[D]", _where(seg, time_at))
    zone = _X12_ZONES.get(code) if code and code != "LT" else _zone(context.timezone)
    if zone is None:
        raise NormalizeError("not a time code this reader knows", _where(seg, code_at))
    try:
        return _instant(date, clock[:6], zone)
    except (ValueError, OverflowError):  # OverflowError: past year 9999 in UTC
        raise NormalizeError("not a real date and time", _where(seg, date_at)) from None


def _x12_instant(at7: Segment, context: ReadContext) -> str:
    """When a 214 status happened: AT705 date, AT706 time and AT707 time code, all required
    but the code (a status without its time cannot be placed in the day)."""
    if _id(at7, 6) == "":
        raise NormalizeError("a status time must be HHMM or HHMMSS", _where(at7, 6))
    moment = _x12_moment(at7, 5, 6, 7, context)
    if moment is None:
        raise NormalizeError("a status date must be CCYYMMDD", _where(at7, 5))
    return moment


def _instant(date: str, clock: str, zone: tzinfo) -> str:
    """CCYYMMDD and HHMM[SS] ('' is midnight) read in `zone`, as UTC ISO; ValueError
    when they are not a real date and time. The callers check the elements' shapes."""
    local = datetime.strptime(date + clock.ljust(6, "0"), "%Y%m%d%H%M%S")
    return local.replace(tzinfo=zone).astimezone(UTC).isoformat()


def _x12_date(seg: Segment, position: int, context: ReadContext) -> str | None:
    """A CCYYMMDD element alone (B306, B103), midnight in the partner's zone, as UTC ISO."""
    return _x12_moment(seg, position, 0, 0, context)


def _group_instant(date: str, clock: str, context: ReadContext) -> str | None:
    """When the sender made the group (GS04 CCYYMMDD + GS05 HHMM[SS[dd]]): the time of a
    document whose own segments carry only a date (a 990's B103), so that an answer sent
    this afternoon does not count from midnight. None when GS says nothing usable."""
    digits = clock[:6] if clock.isdigit() else ""
    if len(date) != 8 or not date.isdigit() or len(digits) not in (4, 6):
        return None
    try:
        return _instant(date, digits, _zone(context.timezone))
    except (ValueError, OverflowError):
        return None


def _amount(seg: Segment, position: int, places: int = 2) -> str | None:
    """An implied-decimal money element as text (exact: pydantic reads it as a Decimal)."""
    try:
        value = seg.implied_decimal(position, places)
    except EdiError as exc:
        raise NormalizeError(exc.message, _where(seg, position)) from None
    return None if value is None else str(value)


_STOP_KINDS = {"LD": "pickup", "CL": "pickup", "PL": "pickup", "UL": "delivery", "CU": "delivery"}


def read_x12(raw: bytes, context: ReadContext) -> Any:
    """Every set of an X12 file, each kind in its own list, so one mapping can take mixed files:

    - `statuses` (214): one per AT7, with its shipment (B10), references (L11: the
      shipment's, and those of the AT7's own LX loop), place (MS1) and equipment (MS2);
    - `charges` (210): one per L1 line with an amount, with its invoice (B3: number,
      shipment, date, net amount due) and currency (C3, default USD);
    - `tenders` (204): one per load, with references, stops (S5 + every G62 with its
      qualifiers, the pickup or delivery window they make, N1/N3/N4) and the L3 totals;
    - `responses` (990): accept / decline / counter per load (B1), remarks (K1), pro (N9 CN).

    Identifiers and codes are read without the whitespace around them (`_id`); names and
    notes as sent. Sets the partner's mode found faulty are left out: the 997 rejected them
    and the partner resends them.
    """
    try:
        document = parse_x12(raw, context.mode, partner=context.partner)
    except EdiError as exc:
        raise _edi_error(exc, context.partner) from None
    context.warnings.extend(document.warnings)
    out: dict[str, Any] = {
        "interchanges": [
            {"control_number": ic.control_number, "sender": ic.sender, "receiver": ic.receiver}
            for ic in document.interchanges
        ],
        "statuses": [],
        "charges": [],
        "tenders": [],
        "responses": [],
    }
    for ic, group, tx in document.transactions():
        if tx.problems:
            context.dropped.extend(tx.problems)
            continue
        base = {
            "interchange": ic.control_number,
            "set": tx.control_number,
            "sent_at": _group_instant(group.date, group.time, context),
        }
        if tx.set_id == "214":
            out["statuses"].extend(_statuses_214(tx.segments, base, context))
        elif tx.set_id == "210":
            out["charges"].extend(_charges_210(tx.segments, base, context))
        elif tx.set_id == "204":
            out["tenders"].append(_tender_204(tx.segments, base, context))
        elif tx.set_id == "990":
            out["responses"].append(_response_990(tx.segments, base, context))
    return out


def _statuses_214(
    segments: list[Segment], base: dict[str, Any], context: ReadContext
) -> list[dict[str, Any]]:
    """One status per AT7. An L11 before the first LX is the shipment's and applies to every
    status; one inside an LX loop (the standard puts it after the loop's AT7s) belongs to
    that loop's statuses only, over the shipment's of the same qualifier."""
    shipment = dict(base)
    shared: dict[str, str] = {}
    references = shared  # where an L11 goes: the shipment's, then each LX loop's own
    statuses: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for seg in segments:
        tag = seg.tag
        if tag == "B10":
            shipment.update(reference=_id(seg, 1), shipment_id=_id(seg, 2), scac=_id(seg, 3))
        elif tag == "LX":
            references = dict(shared)
            current = None
        elif tag == "L11":
            if value := _id(seg, 1):
                references[_id(seg, 2) or "ZZ"] = value
        elif tag == "AT7":
            code_at = 1 if _id(seg, 1) else 3
            reason_at = 2 if _id(seg, 2) else 4
            current = {
                **shipment,
                "references": references,
                "code": _id(seg, code_at),
                "reason": _id(seg, reason_at),
                "occurred_at": _x12_instant(seg, context),
                "_at": {
                    "segment": _where(seg),
                    "code": _where(seg, code_at),
                    "reason": _where(seg, reason_at),
                    "occurred_at": _where(seg, 5),
                },
            }
            statuses.append(current)
        elif tag == "MS1" and current is not None:
            # An element left empty (a European stop has no state) is absent, not "": a
            # mapping's `{'region': state}` then leaves the region out by itself.
            place = {"city": seg.value(1), "state": _id(seg, 2), "country": _id(seg, 3)}
            current.update({name: value for name, value in place.items() if value})
        elif tag == "MS2" and current is not None:
            current.update(equipment=_id(seg, 2))
    return statuses


def _charges_210(
    segments: list[Segment], base: dict[str, Any], context: ReadContext
) -> list[dict[str, Any]]:
    invoice: dict[str, Any] = {**base, "currency": "USD", "references": {}}
    charges: list[dict[str, Any]] = []
    for seg in segments:
        if seg.tag == "B3":
            invoice.update(
                invoice_number=_id(seg, 2),
                shipment_id=_id(seg, 3),
                payment_method=_id(seg, 4),
                invoice_date=_x12_date(seg, 6, context),
                net_amount_due=_amount(seg, 7),
                scac=_id(seg, 11),
                _b3={
                    "invoice_number": _where(seg, 2),
                    "shipment_id": _where(seg, 3),
                    "invoice_date": _where(seg, 6),
                },
            )
        elif seg.tag == "C3" and _id(seg, 1):
            invoice["currency"] = _id(seg, 1)
        elif seg.tag == "N9" and _id(seg, 2):
            invoice["references"][_id(seg, 1) or "ZZ"] = _id(seg, 2)
        elif seg.tag == "L1":
            amount = _amount(seg, 4)
            if amount is None:
                continue  # a rate line without a charge
            located = dict(invoice.get("_b3", {}))
            located.update(segment=_where(seg), amount=_where(seg, 4), special_code=_where(seg, 8))
            charges.append(
                {
                    **{k: v for k, v in invoice.items() if k != "_b3"},
                    "line": _id(seg, 1),
                    "rate": _id(seg, 2),
                    "rate_qualifier": _id(seg, 3),
                    "amount": amount,
                    "special_code": _id(seg, 8),
                    "_at": located,
                }
            )
    return charges


# What a G62 says about a stop, from its date qualifier (G6201, element 432) or its time
# qualifier (G6203, element 176); partners use either: "37" ship not before, or "10"
# requested pick-up date with "I" earliest requested pick-up time. A time qualifier that
# names a window's edge wins over its date's qualifier.
_DATE_MEANINGS = {
    "37": "earliest",  # ship not before
    "53": "earliest",  # deliver not before
    "38": "latest",  # ship not later than
    "54": "latest",  # deliver no later than
    "10": "requested",  # requested ship / pick-up date
    "68": "requested",  # requested delivery date
    "02": "requested",  # delivery requested on this date
    "79": "requested",  # pick-up requested scheduled date
    "80": "requested",  # delivery requested scheduled date
    "69": "scheduled",  # scheduled pick-up date
    "70": "scheduled",  # scheduled delivery date
    "77": "scheduled",  # pick-up appointment scheduled date
    "78": "scheduled",  # delivery appointment scheduled date
    "81": "scheduled",  # pick-up appointment granted date
    "82": "scheduled",  # delivery appointment granted date
    "96": "scheduled",  # scheduled pick-up date, needs confirmation
    "97": "scheduled",  # scheduled delivery date, needs confirmation
    "98": "scheduled",  # scheduled pick-up date, appointment confirmed
    "99": "scheduled",  # scheduled delivery date, appointment confirmed
    "17": "estimated",  # estimated delivery date
    "64": "respond_by",  # must respond by (the tender's, in its header)
}
_TIME_MEANINGS = {
    "I": "earliest",  # earliest requested pick-up time
    "G": "earliest",  # earliest requested delivery time
    "K": "latest",  # latest requested pick-up time
    "L": "latest",  # latest requested delivery time
    "Y": "requested",  # requested ship / pick-up time
    "Z": "requested",  # requested delivery time
    "4": "requested",  # pick-up requested scheduled time
    "5": "requested",  # delivery requested scheduled time
    "U": "scheduled",  # scheduled pick-up time
    "X": "scheduled",  # scheduled delivery time
    "2": "scheduled",  # pick-up appointment scheduled time
    "3": "scheduled",  # delivery appointment scheduled time
    "6": "scheduled",  # pick-up appointment granted time
    "7": "scheduled",  # delivery appointment granted time
}
_EDGES = ("earliest", "latest")


def _g62(seg: Segment, context: ReadContext) -> dict[str, Any] | None:
    """One G62 as {qualifier, time_qualifier, at, meaning}; None when it holds no date."""
    at = _x12_moment(seg, 2, 4, 5, context)
    if at is None:
        return None
    qualifier, time_qualifier = _id(seg, 1), _id(seg, 3)
    by_time = _TIME_MEANINGS.get(time_qualifier)
    meaning = by_time if by_time in _EDGES else _DATE_MEANINGS.get(qualifier) or by_time
    date = {"qualifier": qualifier, "at": at}
    if time_qualifier:
        date["time_qualifier"] = time_qualifier
    if meaning:
        date["meaning"] = meaning
    return date


def _plan(stop: dict[str, Any]) -> None:
    """A stop's window and plan from all its G62s: `earliest` / `latest` (and `window` with
    `start` and `end`, the canonical TimeWindow, when both are known), `scheduled`,
    `requested`, and `at`: the scheduled time, else the requested one, else the window's
    start or end, else the first date given. The first G62 of each meaning counts."""
    for date in stop["dates"]:
        meaning = date.get("meaning")
        if meaning in ("earliest", "latest", "scheduled", "requested"):
            stop.setdefault(meaning, date["at"])
    if "earliest" in stop and "latest" in stop:
        stop["window"] = {"start": stop["earliest"], "end": stop["latest"]}
    for name in ("scheduled", "requested", "earliest", "latest"):
        if name in stop:
            stop["at"] = stop[name]
            return
    if stop["dates"]:
        stop["at"] = stop["dates"][0]["at"]


def _l3_totals(seg: Segment) -> dict[str, Any]:
    """The 204's L3 (after the stops): weight, charge, volume and lading quantity."""
    totals = {
        "weight": _id(seg, 1),  # L301, R
        "weight_qualifier": _id(seg, 2),  # G gross, N net, ...
        "charge": _amount(seg, 5),  # L305, N2
        "special_charge_code": _id(seg, 8),
        "volume": _id(seg, 9),
        "volume_unit": _id(seg, 10),  # E cubic feet, X cubic metres, ...
        "lading_quantity": _id(seg, 11),
        "weight_unit": _id(seg, 12),  # L pounds, K kilograms
    }
    return {name: value for name, value in totals.items() if value}


def _tender_204(
    segments: list[Segment], base: dict[str, Any], context: ReadContext
) -> dict[str, Any]:
    tender: dict[str, Any] = {**base, "references": {}, "stops": [], "notes": [], "dates": []}
    located: dict[str, str] = {}
    stop: dict[str, Any] | None = None
    for seg in segments:
        tag = seg.tag
        if tag == "B2":
            tender.update(scac=_id(seg, 2), shipment_id=_id(seg, 4), payment_method=_id(seg, 6))
            located.update(segment=_where(seg), shipment_id=_where(seg, 4))
        elif tag == "B2A":
            tender["purpose"] = _id(seg, 1)
        elif tag == "L11" and _id(seg, 1):
            target = stop["references"] if stop is not None else tender["references"]
            target[_id(seg, 2) or "ZZ"] = _id(seg, 1)
        elif tag == "NTE" and seg.value(2):
            tender["notes"].append(seg.value(2))
        elif tag == "L3":  # summary: after the last stop
            totals = _l3_totals(seg)
            tender["totals"] = totals
            if "weight" in totals:
                tender["weight"] = totals["weight"]
            located.update(totals=_where(seg), weight=_where(seg, 1))
        elif tag == "S5":
            number = _id(seg, 1)
            stop = {
                "sequence": int(number)
                if number.isascii() and number.isdigit()
                else len(tender["stops"]) + 1,
                "reason": _id(seg, 2),
                "kind": _STOP_KINDS.get(_id(seg, 2), "delivery"),
                "references": {},
                "dates": [],
            }
            tender["stops"].append(stop)
        elif tag == "G62":
            date = _g62(seg, context)
            if date is None:
                continue
            if stop is not None:
                stop["dates"].append(date)
                continue
            tender["dates"].append(date)
            tender.setdefault("issued_at", date["at"])
            if date.get("meaning") == "respond_by":
                tender.setdefault("respond_by", date["at"])
        elif stop is None:
            continue
        elif tag == "N1":
            stop.update(role=_id(seg, 1), name=seg.value(2), code=_id(seg, 4))
        elif tag == "N3":
            stop["street"] = seg.value(1)
        elif tag == "N4":
            stop.update(
                city=seg.value(1),
                region=_id(seg, 2),
                postal_code=_id(seg, 3),
                country=_id(seg, 4) or "US",
            )
    for each in tender["stops"]:
        _plan(each)
    if located:
        tender["_at"] = located
    return tender


_RESPONSES = {"A": "accepted", "D": "declined", "C": "countered", "R": "declined"}


def _response_990(
    segments: list[Segment], base: dict[str, Any], context: ReadContext
) -> dict[str, Any]:
    response: dict[str, Any] = {**base, "references": {}, "remarks": []}
    for seg in segments:
        if seg.tag == "B1":
            response.update(
                scac=_id(seg, 1),
                shipment_id=_id(seg, 2),
                date=_x12_date(seg, 3, context),
                action=_id(seg, 4),
                response=_RESPONSES.get(_id(seg, 4), "unknown"),
                _at={
                    "segment": _where(seg),
                    "shipment_id": _where(seg, 2),
                    "action": _where(seg, 4),
                },
            )
        elif seg.tag == "N9" and _id(seg, 2):
            response["references"][_id(seg, 1) or "ZZ"] = _id(seg, 2)
        elif seg.tag == "K1":
            response["remarks"].append(" ".join(v for v in (seg.value(1), seg.value(2)) if v))
    return response


def _code(seg: Segment, position: int, component: int = 1) -> str:
    """An EDIFACT identifier or code (a party id, a reference, a qualifier) without the
    spaces some partners pad it with; free text (names, FTX) is read with `seg.value`."""
    return seg.value(position, component).strip()


def _edifact_instant(dtm: Segment, context: ReadContext) -> str:
    value, fmt = _code(dtm, 1, 2), _code(dtm, 1, 3) or "203"
    layouts = {"203": "%Y%m%d%H%M", "102": "%Y%m%d", "204": "%Y%m%d%H%M%S"}
    try:
        if fmt == "303":  # CCYYMMDDHHMMZZZ: zone as a UTC offset in hours
            local = datetime.strptime(value[:12], "%Y%m%d%H%M")
            offset = timezone(timedelta(hours=int(value[12:].lstrip("+") or "0")))
            return local.replace(tzinfo=offset).astimezone(UTC).isoformat()
        if fmt not in layouts:
            raise NormalizeError(
                "a date format this reader does not know (203, 102, 204 or 303)", _where(dtm, 1, 3)
            )
        local = datetime.strptime(value, layouts[fmt])
        return local.replace(tzinfo=_zone(context.timezone)).astimezone(UTC).isoformat()
    except (ValueError, OverflowError):  # the value stays out: it reaches the receipt
        raise NormalizeError("not a date in the format DTM01-3 names", _where(dtm, 1, 2)) from None


def read_edifact(raw: bytes, context: ReadContext) -> Any:
    """Every message of an EDIFACT interchange, each kind in its own list:

    - `statuses` (IFTSTA): one per STS, with its consignment (CNI02), the event time
      (DTM+334 of its own group), its references (RFF) and its place: `location_code`,
      `location_name` and `location_qualifier` from the LOC of the status's own group that
      says where the event happened (below), and `locations`, every LOC the status can
      see with its qualifier and `scope` (message, consignment, status, transport, ...);
    - `instructions` (IFTMIN): one per message: booking number (BGM), document time
      (DTM+137), references (RFF), parties with their addresses (NAD), gross weight (CNT+7),
      delivery remarks (FTX+DEL).

    Identifiers and codes are read without surrounding spaces; names and free text as
    sent. Bare messages (no UNB) are read too: whether a partner may send them is decided
    where its bytes arrive (`edi.envelope`), and the bytes stored there are read here.
    """
    try:
        document = parse_edifact(raw, context.mode, partner=context.partner, envelope="optional")
    except EdiError as exc:
        raise _edi_error(exc, context.partner) from None
    context.warnings.extend(document.warnings)
    statuses: list[dict[str, Any]] = []
    instructions: list[dict[str, Any]] = []
    for ic, _group, message in document.messages():
        if message.problems:
            context.dropped.extend(message.problems)
            continue
        base: dict[str, Any] = {
            "interchange": ic.control_reference.strip(),
            "message": message.reference,
        }
        if message.type == "IFTSTA":
            statuses.extend(_statuses_iftsta(message.segments, base, context))
        elif message.type == "IFTMIN":
            instructions.append(_instruction_iftmin(message.segments, base, context))
    return {"statuses": statuses, "instructions": instructions}


# 3227 codes that say "where the event happened": 175 activity location (UN/CEFACT),
# 16E location of status (EANCOM).
_EVENT_LOCATIONS = frozenset({"175", "16E"})
# Segments that open a subgroup of the status group (D.01B SG8 TDT-DTM-RFF-SG9(LOC-DTM),
# SG10 EQD..., SG12 GID...): a LOC after them is the conveyance's (SG9), not the event's.
_STATUS_SUBGROUPS = {"TDT": "transport", "EQD": "equipment", "EQA": "equipment", "GID": "goods"}


def _place(seg: Segment, scope: str) -> dict[str, Any]:
    """A LOC: 3227 qualifier, then C517 (code, code list, agency, name); the name of the
    related location (C519) when C517 has none."""
    code, code_list, agency, name = (
        (*seg.elements[1], "", "", "", "")[:4] if len(seg) > 1 else ("",) * 4
    )
    return {
        "qualifier": _code(seg, 1),
        "code": code.strip(),
        "code_list": code_list.strip(),
        "agency": agency.strip(),
        "name": name or seg.value(3, 4),
        "scope": scope,
    }


Place = tuple[dict[str, Any], Segment]  # a LOC as read, and the segment it came from


def _event_place(places: list[Place]) -> Place | None:
    """Where a status happened, from the LOCs of its own group (D.01B 0310: "the location
    at which the status or event occurs"): the first that says so by its qualifier, else
    the first at status level; a place of delivery or destination after it does not
    replace it. Failing both, a LOC with an event qualifier in a subgroup (a partner that
    put it after TDT). Consignment and message LOCs are never the event's place."""
    own = [p for p in places if p[0]["scope"] == "status"]
    for place in own:
        if place[0]["qualifier"] in _EVENT_LOCATIONS:
            return place
    if own:
        return own[0]
    return next(
        (
            p
            for p in places
            if p[0]["scope"] not in ("message", "consignment")
            and p[0]["qualifier"] in _EVENT_LOCATIONS
        ),
        None,
    )


def _statuses_iftsta(
    segments: list[Segment], base: dict[str, Any], context: ReadContext
) -> list[dict[str, Any]]:
    """One dict per STS. A status's group runs from its STS to the next STS or CNI; its
    RFF, DTM and LOC are its own, those of the message head and the consignment (CNI-LOC)
    are shared by every status under them."""
    statuses: list[tuple[dict[str, Any], list[Place]]] = []
    shared: list[Place] = []  # LOCs of the message head, then of the consignment
    head = 0  # how many of `shared` belong to the message head
    current: dict[str, Any] | None = None
    places: list[Place] = []
    scope = "message"
    for seg in segments:
        tag = seg.tag
        if tag == "BGM":
            base["document_number"] = _code(seg, 2)
        elif tag == "CNI":
            base["consignment"] = _code(seg, 2)
            if scope == "message":
                head = len(shared)
            del shared[head:]
            current, scope = None, "consignment"
        elif tag == "STS":
            current = {
                **base,
                "references": {},
                "category": _code(seg, 1),
                "code": _code(seg, 2),
                "reason": _code(seg, 3),
                "occurred_at": None,
                "_at": {
                    "segment": _where(seg),
                    "code": _where(seg, 2),
                    "reason": _where(seg, 3),
                    "occurred_at": _where(seg),
                },
            }
            places = list(shared)
            statuses.append((current, places))
            scope = "status"
        elif tag == "LOC":
            (shared if current is None else places).append((_place(seg, scope), seg))
        elif current is None:
            continue
        elif tag in _STATUS_SUBGROUPS:
            scope = _STATUS_SUBGROUPS[tag]
        elif tag == "DTM" and _code(seg, 1, 1) == "334":
            if scope == "status" or current["occurred_at"] is None:
                current["occurred_at"] = _edifact_instant(seg, context)
                current["_at"]["occurred_at"] = _where(seg, 1, 2)
        elif tag == "RFF" and (qualifier := _code(seg, 1, 1)):
            references = current["references"]
            if scope == "status":  # a conveyance's or equipment's reference never replaces it
                references[qualifier] = _code(seg, 1, 2)
            else:
                references.setdefault(qualifier, _code(seg, 1, 2))
    for status, seen in statuses:
        status["locations"] = [place for place, _ in seen]
        found = _event_place(seen)
        if found is not None:
            place, loc = found
            status.update(
                location_code=place["code"],
                location_name=place["name"],
                location_qualifier=place["qualifier"],
            )
            named = _where(loc, 2, 4) if loc.value(2, 4) else _where(loc, 3, 4)
            status["_at"].update(location_code=_where(loc, 2, 1), location_name=named)
    return [status for status, _ in statuses]


def _instruction_iftmin(
    segments: list[Segment], base: dict[str, Any], context: ReadContext
) -> dict[str, Any]:
    instruction: dict[str, Any] = {**base, "references": {}, "parties": {}, "remarks": []}
    located: dict[str, str] = {}
    for seg in segments:
        if seg.tag == "BGM":
            instruction["booking_number"] = _code(seg, 2)
            located.update(segment=_where(seg), booking_number=_where(seg, 2))
        elif seg.tag == "DTM" and _code(seg, 1, 1) == "137":
            instruction["issued_at"] = _edifact_instant(seg, context)
            located["issued_at"] = _where(seg, 1, 2)
        elif seg.tag == "RFF":
            instruction["references"][_code(seg, 1, 1)] = _code(seg, 1, 2)
        elif seg.tag == "FTX" and seg.value(4, 1):
            instruction["remarks"].append(seg.value(4, 1))
        elif seg.tag == "CNT" and _code(seg, 1, 1) == "7":
            instruction["gross_weight"] = _code(seg, 1, 2)
            instruction["weight_unit"] = _code(seg, 1, 3)
        elif seg.tag == "NAD":
            instruction["parties"][_code(seg, 1)] = {
                "code": _code(seg, 2, 1),
                "name": seg.value(4, 1),
                "street": seg.value(5, 1),
                "city": seg.value(6),
                "region": _code(seg, 7),
                "postal_code": _code(seg, 8),
                "country": _code(seg, 9),
            }
    instruction["_at"] = located
    return instruction


READERS: dict[str, Reader] = {
    "json": read_json,
    "x12": read_x12,
    "x12_214": read_x12,  # the name mappings used when only 214s were read
    "edifact": read_edifact,
    "edifact_iftsta": read_edifact,
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
