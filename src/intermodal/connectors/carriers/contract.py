"""The one carrier contract: rate, book, void, track, in the canonical model's words.

Every carrier connector (a folder next to this file) implements `CarrierConnector`; rate
shopping, fallback and compensations only ever see this contract, so adding a carrier is
adding a folder and one line in `registry.py`, never editing the shopper.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from intermodal.canonical.model import (
    Address,
    Charge,
    Key,
    MilestoneEvent,
    Money,
    Shipment,
    StopKind,
)
from intermodal.errors import Unavailable, UpstreamError


class CarrierError(UpstreamError):
    """Base of every error a connector raises; names the carrier and the operation."""

    def __init__(self, carrier: str, operation: str, detail: str) -> None:
        super().__init__(f"{carrier} {operation}: {detail}")
        self.carrier = carrier
        self.operation = operation
        self.detail = detail


class CarrierUnavailable(CarrierError, Unavailable):
    """Transport failure, timeout, 5xx or 429: the carrier may work again later.

    Counts against the carrier's breaker. For `book` it also means the outcome is unknown:
    the carrier may have made the label, so the shopper schedules a void by reference.
    """


class CarrierRejected(CarrierError):
    """The carrier understood the request and refused it (bad address, no service)."""


class CarrierResponseError(CarrierError):
    """The carrier answered something we cannot read: wrong shape, unknown status code."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parcel(_Model):
    """One package. The canonical Shipment has no packages yet, so callers pass these."""

    weight_kg: Annotated[Decimal, Field(gt=0, le=5000)]
    length_cm: Annotated[Decimal, Field(gt=0, le=1000)]
    width_cm: Annotated[Decimal, Field(gt=0, le=1000)]
    height_cm: Annotated[Decimal, Field(gt=0, le=1000)]


class Rate(_Model):
    """One offer: which carrier, which of its services, the price and the promised days."""

    carrier: str
    service: str
    service_level: str
    total: Money
    transit_days: Annotated[int, Field(ge=0, le=365)]
    charges: list[Charge] = []


class Booking(_Model):
    """A live label. `client_reference` is ours: stable per (shipment, carrier)."""

    carrier: str
    service: str
    shipment_key: Key
    client_reference: str
    booking_id: str
    tracking_number: Key
    label: str
    total: Money | None = None


class Pickup(_Model):
    """A scheduled collection of one booking's freight."""

    carrier: str
    pickup_id: str
    booking_id: str


class CarrierConnector(Protocol):
    """What every carrier implements; `name` is the configured endpoint name."""

    name: str

    async def rate(self, shipment: Shipment, parcels: list[Parcel]) -> list[Rate]: ...

    async def book(
        self, shipment: Shipment, parcels: list[Parcel], rate: Rate, client_reference: str
    ) -> Booking: ...

    async def find(self, client_reference: str, shipment_key: str) -> Booking | None:
        """The live booking made under this reference, if any (to void a lost one)."""
        ...

    async def void(self, booking: Booking) -> None: ...

    async def schedule_pickup(self, booking: Booking, ready_at: datetime) -> Pickup: ...

    async def pickups(self, booking: Booking) -> list[Pickup]:
        """The booking's pickups that are still scheduled."""
        ...

    async def cancel_pickup(self, pickup: Pickup) -> None: ...

    async def track(self, tracking_number: str) -> list[MilestoneEvent]: ...

    async def aclose(self) -> None: ...


def route(shipment: Shipment, carrier: str, operation: str) -> tuple[Address, Address]:
    """Origin (first pickup stop) and destination (last delivery stop) of a shipment."""
    pickups = [s for s in shipment.stops if s.kind is StopKind.PICKUP]
    deliveries = [s for s in shipment.stops if s.kind is StopKind.DELIVERY]
    if not pickups or not deliveries:
        raise CarrierRejected(
            carrier, operation, f"shipment {shipment.key} needs a pickup and a delivery stop"
        )
    first = min(pickups, key=lambda s: s.sequence)
    last = max(deliveries, key=lambda s: s.sequence)
    return first.address, last.address
