"""FreightLine booking: `POST /api/book`, and `GET /api/booking?shipper_ref=` to find one.

FreightLine does not deduplicate by `shipper_ref`, so the connector looks the reference
up before booking: a retried book returns the earlier label instead of making a second.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from intermodal.canonical.model import Money, Shipment
from intermodal.connectors.carriers._http import parsing, validate
from intermodal.connectors.carriers.contract import Booking, Parcel, Rate
from intermodal.connectors.carriers.freightline.providers.rate import quote_form
from intermodal.connectors.carriers.freightline.schemas import (
    BookForm,
    BookingDetail,
    BookingList,
    BookingResponse,
)


def book_form(
    carrier: str, shipment: Shipment, parcels: list[Parcel], rate: Rate, client_reference: str
) -> dict[str, str]:
    quote = quote_form(carrier, shipment, parcels)
    return BookForm(**quote, product=rate.service, shipper_ref=client_reference).model_dump()


def booking_of(carrier: str, shipment_key: str, detail: BookingDetail) -> Booking:
    return Booking(
        carrier=carrier,
        service=detail.product,
        shipment_key=shipment_key,
        client_reference=detail.shipper_ref,
        booking_id=detail.booking_ref,
        tracking_number=detail.pro_number,
        label=detail.label_zpl,
        total=Money(amount=Decimal(detail.total), currency=detail.currency),
    )


def parse_book_response(carrier: str, shipment_key: str, value: Any) -> Booking:
    return parsing(
        carrier,
        "book",
        lambda: booking_of(
            carrier, shipment_key, validate(BookingResponse, value, carrier, "book").booking
        ),
    )


def parse_lookup_response(carrier: str, shipment_key: str, value: Any) -> Booking | None:
    def parse() -> Booking | None:
        found = validate(BookingList, value, carrier, "find").bookings
        live = [booking_of(carrier, shipment_key, d) for d in found if d.state == "BOOKED"]
        return live[0] if live else None

    return parsing(carrier, "find", parse)
