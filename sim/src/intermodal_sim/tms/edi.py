"""The TMS simulator's X12: reading load tenders (204) and writing its answers (990 load
tender response, 214 status, 210 freight invoice), with `intermodal.edi.x12`.

Element positions follow the 004010 implementation guides carriers publish: B2 04 is the
shipper's shipment id, S5 02 the stop reason (LD load, UL unload) with its N1/N4 place;
B1 04 is the 990 action (A accept, D decline); B10 01/02/03 are the carrier reference,
the shipment id and the SCAC, AT7 01 the status code with the date, time and time code
in AT7 05-07; B3 02/03/07 are the invoice number, the shipment id and the net amount due
in cents (implied two decimals), L1 04 each charge in cents.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from intermodal.edi.errors import EdiError, Segment
from intermodal.edi.x12 import Party, Transaction, build_interchange, generate_x12, parse_x12


class MemoryControlNumbers:
    """Increasing ISA13/GS06 per kind, kept in memory: a simulator restarts from 1, which a
    fresh hub database accepts (it checks duplicates by ISA13 per partner)."""

    def __init__(self, start: int = 0) -> None:
        self.last: dict[str, int] = {}
        self.start = start
        self.lock = threading.Lock()

    def next(self, partner: str, kind: str) -> int:
        with self.lock:
            value = self.last.get(kind, self.start) + 1
            self.last[kind] = value
            return value


@dataclass
class Place:
    """A city, state and country, kept X12-safe (see `clean`) whatever the tender held."""

    city: str = ""
    state: str = ""
    country: str = ""

    def __post_init__(self) -> None:
        self.city = clean(self.city, 30)
        self.state = clean(self.state, 2)
        self.country = clean(self.country, 3)

    def to_json(self) -> dict[str, str]:
        return {"city": self.city, "state": self.state, "country": self.country}


@dataclass
class Tender:
    """What the TMS keeps of one 204."""

    shipment_key: str
    scac: str
    origin: Place = field(default_factory=Place)
    destination: Place = field(default_factory=Place)
    weight: str = ""
    references: dict[str, str] = field(default_factory=dict)


class TenderError(ValueError):
    """A 204 the TMS cannot take, naming the segment and element."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


@dataclass
class Received:
    """A parsed inbound X12 document: the 204 tenders, and any 997 acknowledgements."""

    tenders: list[Tender]
    acknowledgements: list[dict[str, str]]
    sender: Party


def read_document(body: bytes) -> Received:
    """Parse an inbound X12 document (reject mode); raises EdiError or TenderError."""
    document = parse_x12(body, "reject", partner="tms-sim")
    tenders: list[Tender] = []
    acks: list[dict[str, str]] = []
    sender = Party("ZZ", "INTERMODAL")
    for ic, _group, tx in document.transactions():
        sender = Party(ic.sender_qualifier, ic.sender)
        if tx.set_id == "204":
            tenders.append(_tender(tx))
        elif tx.set_id == "997":
            ak1 = next((s for s in tx.segments if s.tag == "AK1"), None)
            ak9 = next((s for s in tx.segments if s.tag == "AK9"), None)
            acks.append(
                {
                    "interchange": ic.control_number,
                    "group": ak1.value(2) if ak1 else "",
                    "status": ak9.value(1) if ak9 else "",
                }
            )
        else:
            raise TenderError(
                f"set {tx.set_id} (ST at segment {tx.number}): this TMS takes 204 load"
                " tenders and 997 acknowledgements",
                [{"segment": tx.number, "element": "ST01", "found": tx.set_id}],
            )
    if not tenders and not acks:
        raise TenderError("the document holds no transaction set", [])
    return Received(tenders, acks, sender)


def _tender(tx: Transaction) -> Tender:
    b2 = next((s for s in tx.segments if s.tag == "B2"), None)
    if b2 is None:
        raise TenderError(
            f"204 {tx.control_number}: no B2 segment",
            [{"segment": tx.number, "element": "B2", "found": ""}],
        )
    key = b2.value(4)
    if not key or len(key) > 128 or not all(c.isalnum() or c in "._:/-" for c in key):
        raise TenderError(
            f"204 {tx.control_number}: B204 (shipment id) must be 1-128 letters, digits or ._:/-",
            [{"segment": b2.number, "element": "B204", "found": key[:64]}],
        )
    tender = Tender(shipment_key=key, scac=b2.value(2))
    stop_kind = ""
    for seg in tx.segments:
        if seg.tag == "S5":
            stop_kind = seg.value(2)
        elif seg.tag == "N4":
            place = Place(seg.value(1), seg.value(2), seg.value(4))
            if stop_kind == "LD" and not tender.origin.city:
                tender.origin = place
            elif stop_kind == "UL":
                tender.destination = place
        elif seg.tag == "L11" and seg.value(1):
            tender.references[seg.value(2) or "ZZ"] = seg.value(1)
        elif seg.tag == "L3" and seg.value(1):
            tender.weight = seg.value(1)
    return tender


@dataclass(frozen=True)
class Identity:
    """The TMS's X12 identity (its SCAC) and the hub it writes to."""

    scac: str = "SIMT"
    hub: Party = field(default_factory=lambda: Party("ZZ", "INTERMODAL"))


def _document(
    identity: Identity,
    control: MemoryControlNumbers,
    transactions: list[tuple[str, list[Segment]]],
    at: datetime,
) -> tuple[str, bytes]:
    ic = build_interchange(
        transactions,
        sender=Party("02", identity.scac),
        receiver=identity.hub,
        control=control,
        partner="hub",
        at=at,
    )
    return ic.control_number, generate_x12(ic, newline=True)


def response_990(
    identity: Identity,
    control: MemoryControlNumbers,
    *,
    shipment_key: str,
    load_id: str,
    accepted: bool,
    reason: str | None,
    at: datetime,
) -> tuple[str, bytes]:
    """A 990 accepting or declining one tender; (ISA13, document)."""
    body = [
        Segment.of(
            "B1", identity.scac, shipment_key, at.strftime("%Y%m%d"), "A" if accepted else "D"
        ),
        Segment.of("N9", "CN", load_id),
    ]
    if not accepted:
        body.append(Segment.of("K1", _x12_text(reason or "DECLINED")))
    return _document(identity, control, [("990", body)], at)


def status_214(
    identity: Identity,
    control: MemoryControlNumbers,
    *,
    shipment_key: str,
    load_id: str,
    code: str,
    reason: str,
    place: Place,
    truck: str,
    at: datetime,
) -> tuple[str, bytes]:
    """A 214 with one status (AT7) at a place (MS1) with equipment (MS2); time in UTC."""
    body = [
        Segment.of("B10", load_id, shipment_key, identity.scac),
        Segment.of("LX", "1"),
        Segment.of("AT7", code, reason, "", "", at.strftime("%Y%m%d"), at.strftime("%H%M%S"), "UT"),
    ]
    if place.city:
        body.append(Segment.of("MS1", place.city, place.state, place.country))
    body.append(Segment.of("MS2", identity.scac, truck))
    return _document(identity, control, [("214", body)], at)


def invoice_210(
    identity: Identity,
    control: MemoryControlNumbers,
    *,
    shipment_key: str,
    invoice: str,
    charges: list[tuple[str, int]],
    at: datetime,
) -> tuple[str, bytes]:
    """A 210 freight invoice: B3 (net amount due in cents), C3 currency, one L1 per charge
    (freight FR, fuel FUE as in the published guides)."""
    total = sum(cents for _, cents in charges)
    day = at.strftime("%Y%m%d")
    body = [
        Segment.of(
            "B3",
            "",
            invoice,
            shipment_key,
            "PP",
            "L",
            day,
            str(total),
            "",
            day,
            "035",
            identity.scac,
        ),
        Segment.of("C3", "USD"),
    ]
    for line, (code, cents) in enumerate(charges, 1):
        if code == "fuel":
            body.append(Segment.of("L1", str(line), "", "FC", str(cents), "", "", "", "FUE"))
        else:
            body.append(Segment.of("L1", str(line), f"{cents / 100:.2f}", "FR", str(cents)))
    body.append(Segment.of("L3", "", "", "", "", str(total)))
    return _document(identity, control, [("210", body)], at)


def clean(value: str, limit: int) -> str:
    """Text made safe for any X12 we write, which has no escape character: letters, digits,
    spaces, dots and dashes only, cut to `limit`."""
    return "".join(c for c in value if c.isascii() and (c.isalnum() or c in " .-")).strip()[:limit]


def _x12_text(value: str) -> str:
    return clean(value, 60) or "NONE"


__all__ = [
    "EdiError",
    "Identity",
    "MemoryControlNumbers",
    "Place",
    "Received",
    "Tender",
    "TenderError",
    "invoice_210",
    "read_document",
    "response_990",
    "status_214",
]
