"""ParcelPro's request and response bodies, typed from the API's own samples."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    """Responses ignore fields we do not use: carriers add fields without notice."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class PlaceRequest(_Body):
    country: str
    postal_code: str | None = None
    city: str | None = None


class ParcelRequest(_Body):
    weight_kg: float
    dims_cm: list[float]


class RateRequest(_Body):
    from_: Annotated[PlaceRequest, Field(alias="from")]
    to: PlaceRequest
    parcels: list[ParcelRequest]


class ShipmentRequest(RateRequest):
    service_code: str
    client_reference: str


class Surcharge(_Body):
    code: str
    amount_cents: Annotated[int, Field(strict=True)]


class RateDetail(_Body):
    service_code: str
    amount_cents: Annotated[int, Field(strict=True, ge=0)]
    currency: str
    transit_days: Annotated[int, Field(strict=True, ge=0, le=365)]
    surcharges: list[Surcharge] = []


class RateResponse(_Body):
    rates: list[RateDetail]


class ShipmentDetail(_Body):
    id: str
    client_reference: str
    tracking_number: str
    service_code: str
    amount_cents: Annotated[int, Field(strict=True, ge=0)]
    currency: str
    status: str
    label_pdf_base64: str


class ShipmentResponse(_Body):
    shipment: ShipmentDetail


class ShipmentList(_Body):
    shipments: list[ShipmentDetail]


class TrackingLocation(_Body):
    city: str | None = None
    country: str | None = None


class TrackingEvent(_Body):
    code: str
    at: str
    location: TrackingLocation | None = None
    note: str | None = None


class TrackingResponse(_Body):
    tracking_number: str
    events: list[TrackingEvent]


class ErrorDetail(_Body):
    code: str
    detail: str


class ErrorResponse(_Body):
    errors: list[ErrorDetail]


class PickupRequest(_Body):
    shipment_ids: list[str]
    ready_at: str


class PickupDetail(_Body):
    id: str
    shipment_ids: list[str]
    status: str


class PickupResponse(_Body):
    pickup: PickupDetail


class PickupList(_Body):
    pickups: list[PickupDetail]
