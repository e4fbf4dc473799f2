"""ParcelPro booking: `POST /v2/shipments` with our client reference -> `Booking`.

ParcelPro deduplicates by `client_reference`, so a retried create returns the first label.
"""

from __future__ import annotations

from typing import Any

from intermodal.canonical.model import Shipment
from intermodal.connectors.carriers._http import parsing, validate
from intermodal.connectors.carriers.contract import Booking, Parcel, Rate, route
from intermodal.connectors.carriers.parcelpro.providers.rate import cents, parcels_request, place
from intermodal.connectors.carriers.parcelpro.schemas import (
    ShipmentDetail,
    ShipmentList,
    ShipmentRequest,
    ShipmentResponse,
)


def shipment_request(
    carrier: str, shipment: Shipment, parcels: list[Parcel], rate: Rate, client_reference: str
) -> dict[str, Any]:
    origin, destination = route(shipment, carrier, "book")
    body = ShipmentRequest.model_validate(
        {
            "from": place(origin),
            "to": place(destination),
            "parcels": parcels_request(parcels),
            "service_code": rate.service,
            "client_reference": client_reference,
        }
    )
    return body.model_dump(by_alias=True, exclude_none=True)


def booking_of(carrier: str, shipment_key: str, detail: ShipmentDetail) -> Booking:
    return Booking(
        carrier=carrier,
        service=detail.service_code,
        shipment_key=shipment_key,
        client_reference=detail.client_reference,
        booking_id=detail.id,
        tracking_number=detail.tracking_number,
        label=detail.label_pdf_base64,
        total=cents(detail.amount_cents, detail.currency),
    )


def parse_shipment_response(carrier: str, shipment_key: str, value: Any) -> Booking:
    return parsing(
        carrier,
        "book",
        lambda: booking_of(
            carrier, shipment_key, validate(ShipmentResponse, value, carrier, "book").shipment
        ),
    )


def parse_search_response(carrier: str, shipment_key: str, value: Any) -> Booking | None:
    """The live shipment among those found by reference (ParcelPro keeps voided ones)."""

    def parse() -> Booking | None:
        found = validate(ShipmentList, value, carrier, "find").shipments
        live = [booking_of(carrier, shipment_key, d) for d in found if d.status == "active"]
        return live[0] if live else None

    return parsing(carrier, "find", parse)
