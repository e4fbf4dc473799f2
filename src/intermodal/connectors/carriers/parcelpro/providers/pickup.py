"""ParcelPro pickups: `POST /v2/pickups`, `GET /v2/pickups?shipment_id=`,
`DELETE /v2/pickups/{id}`. ParcelPro refuses to void a shipment with a scheduled pickup,
which is why a void compensation cancels the pickups first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intermodal.connectors.carriers._http import parsing, validate
from intermodal.connectors.carriers.contract import Booking, CarrierResponseError, Pickup
from intermodal.connectors.carriers.parcelpro.schemas import (
    PickupDetail,
    PickupList,
    PickupRequest,
    PickupResponse,
)


def pickup_request(booking: Booking, ready_at: datetime) -> dict[str, Any]:
    return PickupRequest(
        shipment_ids=[booking.booking_id], ready_at=ready_at.isoformat()
    ).model_dump()


def _pickup(carrier: str, detail: PickupDetail) -> Pickup:
    if len(detail.shipment_ids) != 1:
        raise CarrierResponseError(carrier, "pickup", "a pickup must name one shipment")
    return Pickup(carrier=carrier, pickup_id=detail.id, booking_id=detail.shipment_ids[0])


def parse_pickup_response(carrier: str, value: Any) -> Pickup:
    return parsing(
        carrier,
        "pickup",
        lambda: _pickup(carrier, validate(PickupResponse, value, carrier, "pickup").pickup),
    )


def parse_pickup_list(carrier: str, value: Any) -> list[Pickup]:
    def parse() -> list[Pickup]:
        found = validate(PickupList, value, carrier, "pickups").pickups
        return [_pickup(carrier, p) for p in found if p.status == "scheduled"]

    return parsing(carrier, "pickups", parse)


def parse_cancel_pickup_response(carrier: str, value: Any) -> None:
    detail = validate(PickupResponse, value, carrier, "cancel_pickup").pickup
    if detail.status != "cancelled":
        raise CarrierResponseError(
            carrier, "cancel_pickup", f"status is {detail.status!r}, not cancelled"
        )
