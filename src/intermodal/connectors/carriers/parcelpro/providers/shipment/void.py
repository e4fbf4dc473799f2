"""ParcelPro void: `DELETE /v2/shipments/{id}`; the answer must show it voided."""

from __future__ import annotations

from typing import Any

from intermodal.connectors.carriers._http import validate
from intermodal.connectors.carriers.contract import CarrierResponseError
from intermodal.connectors.carriers.parcelpro.schemas import ShipmentResponse


def void_path(booking_id: str) -> str:
    return f"/v2/shipments/{booking_id}"


def parse_void_response(carrier: str, value: Any) -> None:
    detail = validate(ShipmentResponse, value, carrier, "void").shipment
    if detail.status != "voided":
        raise CarrierResponseError(carrier, "void", f"status is {detail.status!r}, not voided")
