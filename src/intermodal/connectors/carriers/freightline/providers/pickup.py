"""FreightLine pickups: `POST /api/pickup`, `GET /api/pickup?booking_ref=`,
`POST /api/pickup/cancel`. Cancelling a booking cancels its pickups too, but the void
compensation still cancels them first so every carrier is handled the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intermodal.connectors.carriers._http import parsing, validate
from intermodal.connectors.carriers.contract import Booking, CarrierResponseError, Pickup
from intermodal.connectors.carriers.freightline.schemas import (
    PickupDetail,
    PickupList,
    PickupResponse,
)


def pickup_form(booking: Booking, ready_at: datetime) -> dict[str, str]:
    return {
        "booking_ref": booking.booking_id,
        "ready_date": ready_at.strftime("%Y-%m-%d"),
        "ready_time": ready_at.strftime("%H:%M"),
    }


def _pickup(carrier: str, detail: PickupDetail) -> Pickup:
    return Pickup(carrier=carrier, pickup_id=detail.confirmation, booking_id=detail.booking_ref)


def parse_pickup_response(carrier: str, value: Any) -> Pickup:
    return parsing(
        carrier,
        "pickup",
        lambda: _pickup(carrier, validate(PickupResponse, value, carrier, "pickup").pickup),
    )


def parse_pickup_list(carrier: str, value: Any) -> list[Pickup]:
    def parse() -> list[Pickup]:
        found = validate(PickupList, value, carrier, "pickups").pickups
        return [_pickup(carrier, p) for p in found if p.state == "SCHEDULED"]

    return parsing(carrier, "pickups", parse)


def parse_cancel_pickup_response(carrier: str, value: Any) -> None:
    detail = validate(PickupResponse, value, carrier, "cancel_pickup").pickup
    if detail.state != "CANCELLED":
        raise CarrierResponseError(
            carrier, "cancel_pickup", f"state is {detail.state!r}, not CANCELLED"
        )
