"""FreightLine void: `POST /api/cancel` with the booking reference; the answer must show it."""

from __future__ import annotations

from typing import Any

from intermodal.connectors.carriers._http import validate
from intermodal.connectors.carriers.contract import CarrierResponseError
from intermodal.connectors.carriers.freightline.schemas import BookingResponse


def cancel_form(booking_id: str) -> dict[str, str]:
    return {"booking_ref": booking_id}


def parse_cancel_response(carrier: str, value: Any) -> None:
    detail = validate(BookingResponse, value, carrier, "void").booking
    if detail.state != "CANCELLED":
        raise CarrierResponseError(carrier, "void", f"state is {detail.state!r}, not CANCELLED")
