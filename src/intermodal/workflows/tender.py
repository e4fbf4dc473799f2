"""The dispatch job as an X12 204 load tender (TMS role in `tms_mode: x12`).

Built inside the applier's write transaction: ISA13 and GS06 come from the store's
control numbers (`edi/control.py`) taken in that same transaction, so a tender that is not
written gives its numbers back. The tender's B204 is the shipment key, which is what the
TMS's 990 (B102) and 214s (B1002) quote back.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from intermodal.edi.control import ControlNumbers
from intermodal.edi.errors import Segment
from intermodal.edi.x12 import Party, build_interchange, generate_x12

if TYPE_CHECKING:
    from intermodal.config import TenderX12Config


class _InTransaction:
    def __init__(self, conn: Connection) -> None:
        # ControlNumbers only reads `dialect` from its store when given a connection.
        self.numbers = ControlNumbers(SimpleNamespace(dialect=conn.dialect.name))  # type: ignore[arg-type]
        self.conn = conn

    def next(self, partner: str, kind: str) -> int:
        return self.numbers.next(partner, kind, self.conn)


def _clean(value: Any, size: int = 35) -> str:
    """X12 has no escape: keep values to characters no delimiter set uses."""
    text = "".join(ch for ch in str(value or "") if ch.isalnum() or ch in " .,-/#&()")
    return text.strip().upper()[:size]


def tender_segments(shipment: dict[str, Any], config: TenderX12Config) -> list[Segment]:
    """The 204 body: B2/B2A, references, then an S5 per stop with its party and address."""
    key = shipment["key"]
    segments = [
        Segment.of("B2", "", config.scac, "", _clean(key, 30), "", "PP"),
        Segment.of("B2A", "00", "LT"),
    ]
    refs = shipment.get("references") or {}
    if refs.get("odoo_sale_order"):
        segments.append(Segment.of("L11", _clean(refs["odoo_sale_order"], 30), "PO"))
    if shipment.get("service_level"):
        segments.append(Segment.of("L11", _clean(shipment["service_level"], 30), "ZZ"))
    for stop in shipment.get("stops") or []:
        reason = "LD" if stop["kind"] == "pickup" else "UL"
        segments.append(Segment.of("S5", str(stop["sequence"]), reason))
        party = stop.get("party") or {}
        address = stop.get("address") or {}
        segments.append(Segment.of("N1", "SH" if reason == "LD" else "CN",
                                   _clean(party.get("name") or "STOP", 60)))  # fmt: skip
        if address.get("street"):
            segments.append(Segment.of("N3", _clean(address["street"], 55)))
        segments.append(
            Segment.of(
                "N4",
                _clean(address.get("city"), 30),
                _clean(address.get("region"), 2),
                _clean(address.get("postal_code"), 15),
                _clean(address.get("country"), 3),
            )
        )
    return segments


def render_204(
    conn: Connection,
    shipment: dict[str, Any],
    config: TenderX12Config,
    partner: str,
    at: datetime,
) -> bytes:
    ic = build_interchange(
        [("204", tender_segments(shipment, config))],
        sender=Party(config.sender_qualifier, config.sender_id),
        receiver=Party(config.receiver_qualifier, config.receiver_id),
        control=_InTransaction(conn),
        partner=partner,
        at=at,
    )
    return generate_x12(ic)
