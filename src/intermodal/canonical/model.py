"""Canonical model v1: shipments, parties, stops, milestones, proof of delivery, charges.

Partners' words (status codes, field names) stay inside their mappings; everything past
normalisation speaks only these types. Datetimes are always timezone-aware so that a
milestone's order never depends on which server parsed it.

What the models accept the hub can also keep and apply: no text holds U+0000 (PostgreSQL
text and JSONB cannot, nor Odoo's columns), every time is RFC 3339 text or an aware
datetime inside `EARLIEST`..`LATEST`, and ids sent to Odoo fit its integer columns. A value
refused here is a 422 at the door, not a message that is stored and fails later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import core_schema

from intermodal.canonical.iso4217 import ISO_4217_CODES


class Canonical(BaseModel):
    """Base of every canonical type: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Key = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
]
"""A shipment key or reference: printable, no spaces, safe in URLs and log lines."""

STORABLE_TEXT = r"^[^\x00]*$"
"""Text without U+0000: PostgreSQL text and JSONB refuse it, and so does every column of
Odoo the hub writes to. `describe` (canonical/events.py) words a mismatch for partners."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=STORABLE_TEXT)]
LongText = Annotated[str, StringConstraints(max_length=4000, pattern=STORABLE_TEXT)]

RFC3339 = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
"""RFC 3339 section 5.6 `date-time`: seconds and a zone offset required, `T` and `Z` in
either case. A leap second (:60) is refused: Python's datetime cannot hold it."""

EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 1, 1, tzinfo=UTC)
"""The instants the hub takes (`EARLIEST` included, `LATEST` not): a year or more inside
what Python's datetime holds, so that converting a time to UTC
(`0001-01-01T00:00:00+14:00` is year 0 there) and adding a service level's duration (at
most 366 days, config.Duration) to it cannot overflow while the message is applied."""

INSTANT_MESSAGE = (
    "must be an RFC 3339 date-time string with seconds and a zone offset,"
    " e.g. 2026-11-23T10:00:00Z, naming a real date and time from"
    f" {EARLIEST.date().isoformat()} up to {LATEST.date().isoformat()} (UTC, not included)"
)


def _instant() -> core_schema.CoreSchema:
    """RFC 3339 text, checked by pattern before pydantic parses it (pydantic alone also takes
    numbers, digits as Unix time, a space for `T` and times without seconds), or an aware
    datetime, as code building a model in Python hands it over; either inside
    `EARLIEST`..`LATEST`. All of it runs in pydantic-core: a valid time costs no Python."""
    return core_schema.union_schema(
        [  # text first: what every received event has, so it succeeds at the first try
            core_schema.chain_schema(
                [
                    core_schema.str_schema(pattern=f"^{RFC3339}$"),
                    core_schema.datetime_schema(tz_constraint="aware", ge=EARLIEST, lt=LATEST),
                ]
            ),
            core_schema.datetime_schema(strict=True, tz_constraint="aware", ge=EARLIEST, lt=LATEST),
        ],
        mode="left_to_right",
        custom_error_type="instant",
        custom_error_message=INSTANT_MESSAGE,
    )


Instant = Annotated[
    datetime,
    GetPydanticSchema(lambda _source, _handler: _instant()),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A point in time as the canonical model takes it, in the envelope and in `data` alike."""


class MilestoneType(StrEnum):
    """The closed set of milestones a shipment can reach.

    The main chain is ordered (`MAIN_CHAIN`); the side states can happen alongside it and
    are shown as the state only while they are newer than the last main-chain milestone.
    """

    BOOKED = "booked"
    DISPATCHED = "dispatched"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    EXCEPTION = "exception"
    CUSTOMS_HOLD = "customs_hold"
    CUSTOMS_RELEASED = "customs_released"
    RETURNED = "returned"
    CANCELLED = "cancelled"


MAIN_CHAIN: tuple[MilestoneType, ...] = (
    MilestoneType.BOOKED,
    MilestoneType.DISPATCHED,
    MilestoneType.PICKED_UP,
    MilestoneType.IN_TRANSIT,
    MilestoneType.OUT_FOR_DELIVERY,
    MilestoneType.DELIVERED,
)
SIDE_STATES: frozenset[MilestoneType] = frozenset(
    {
        MilestoneType.DELIVERY_FAILED,
        MilestoneType.EXCEPTION,
        MilestoneType.CUSTOMS_HOLD,
        MilestoneType.CUSTOMS_RELEASED,
    }
)
TERMINAL_STATES: frozenset[MilestoneType] = frozenset(
    {MilestoneType.RETURNED, MilestoneType.CANCELLED}
)


def _iso_currency(code: str) -> str:
    """The message names what was expected, never the value: errors reach receipts."""
    if code not in ISO_4217_CODES:
        raise ValueError("not an ISO 4217 currency code (such as EUR or USD)")
    return code


CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_currency)
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Money(Canonical):
    """An amount in one ISO 4217 currency; Decimal so that invoices add up to the cent."""

    amount: Annotated[Decimal, Field(max_digits=18, decimal_places=6, allow_inf_nan=False)]
    currency: CurrencyCode


PostalCode = Annotated[str, StringConstraints(max_length=32, pattern=STORABLE_TEXT)]


class Address(Canonical):
    street: ShortText | None = None
    street2: ShortText | None = None
    city: ShortText | None = None
    postal_code: PostalCode | None = None
    region: ShortText | None = None
    country: CountryCode


class PartyRole(StrEnum):
    SHIPPER = "shipper"
    CONSIGNEE = "consignee"
    CUSTOMER = "customer"
    BILL_TO = "bill_to"
    CARRIER = "carrier"
    BROKER = "broker"


class Party(Canonical):
    """Anyone involved in a shipment; `odoo_partner_id` links it to res.partner."""

    role: PartyRole
    name: ShortText
    reference: Key | None = None
    odoo_partner_id: Annotated[int, Field(gt=0, le=2**31 - 1)] | None = None
    """Odoo's ids are PostgreSQL `integer` columns."""
    address: Address | None = None
    email: Annotated[str, StringConstraints(max_length=254, pattern=STORABLE_TEXT)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64, pattern=STORABLE_TEXT)] | None = None


class TimeWindow(Canonical):
    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("time window ends before it starts")
        return self


class StopKind(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"


class Stop(Canonical):
    sequence: Annotated[int, Field(ge=1, le=999)]
    kind: StopKind
    address: Address
    party: Party | None = None
    window: TimeWindow | None = None


class Incoterm(StrEnum):
    """Incoterms 2020: decide who pays freight, duties and taxes on a cross-border move."""

    EXW = "EXW"
    FCA = "FCA"
    FAS = "FAS"
    FOB = "FOB"
    CFR = "CFR"
    CIF = "CIF"
    CPT = "CPT"
    CIP = "CIP"
    DAP = "DAP"
    DPU = "DPU"
    DDP = "DDP"


class CustomsState(StrEnum):
    NOT_REQUIRED = "not_required"
    PENDING = "pending"
    HOLD = "hold"
    RELEASED = "released"


class CustomsStatus(Canonical):
    state: CustomsState
    broker: ShortText | None = None
    entry_number: Key | None = None
    reason: LongText | None = None
    occurred_at: Instant


Url = Annotated[str, StringConstraints(max_length=2048, pattern=STORABLE_TEXT)]


class ProofOfDelivery(Canonical):
    delivered_at: Instant
    signed_by: ShortText | None = None
    document_url: Url | None = None
    photo_urls: Annotated[list[Url], Field(max_length=20)] = []
    note: LongText | None = None


class ChargeKind(StrEnum):
    FREIGHT = "freight"
    FUEL = "fuel"
    ACCESSORIAL = "accessorial"
    SURCHARGE = "surcharge"
    DUTY = "duty"
    TAX = "tax"


class ChargeStatus(StrEnum):
    """Provisional at booking (rated), final once the carrier's invoice or the TMS settles it."""

    PROVISIONAL = "provisional"
    FINAL = "final"


class Charge(Canonical):
    code: Key
    kind: ChargeKind
    description: ShortText | None = None
    amount: Money
    status: ChargeStatus
    document_url: Url | None = None
    """The invoice this charge was read from, when the hub read it from a document
    (foresight/documents_reader.py): a case opened on the charge links it."""


class ShipmentReferences(Canonical):
    """How other systems name this shipment; each is searchable in the control tower."""

    odoo_sale_order: Key | None = None
    odoo_picking: Key | None = None
    carrier_tracking_numbers: Annotated[list[Key], Field(max_length=50)] = []
    customer_reference: Key | None = None


class Shipment(Canonical):
    key: Key
    references: ShipmentReferences = ShipmentReferences()
    parties: Annotated[list[Party], Field(max_length=20)] = []
    stops: Annotated[list[Stop], Field(max_length=50)] = []
    service_level: ShortText | None = None
    incoterm: Incoterm | None = None
    customs: CustomsStatus | None = None


class PickedQuantity(Canonical):
    """How much of one product a warehouse picked for the shipment (its SKU is the Odoo
    product's internal reference)."""

    product: Key
    quantity: Annotated[Decimal, Field(ge=0, le=10**12, max_digits=18, decimal_places=6)]


class MilestoneEvent(Canonical):
    """A milestone asserted by a partner: what happened, when, and optionally where/why."""

    milestone: MilestoneType
    occurred_at: Instant
    location: Address | None = None
    reason: LongText | None = None
    tracking_number: Key | None = None
    quantities: Annotated[list[PickedQuantity], Field(max_length=500)] | None = None
    """What left, per product, when a warehouse reports it (the goods leaving: a pickup
    or a dispatch): the quantities the hub sets on the Odoo delivery before validating it.
    None when the partner did not say; a product it does not name was not picked."""


# -- positions (telematics) ------------------------------------------------------------


# JSON numbers only (strict): `true` or `"50.1"` is refused rather than read as 1.0 or
# 50.1; a mapping converts a provider's text with JSONata's `$number`.
Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
SpeedKmh = Annotated[float, Field(strict=True, ge=0, le=1500, allow_inf_nan=False)]
Heading = Annotated[float, Field(strict=True, ge=0, le=360, allow_inf_nan=False)]
Metres = Annotated[float, Field(strict=True, ge=0, le=1_000_000, allow_inf_nan=False)]


class PositionReport(Canonical):
    """One telematics fix: where a shipment's vehicle was at `recorded_at` (WGS 84
    degrees), how fast and which way it went, and how sure the device was (`accuracy_m`,
    the radius of its horizontal error, metres). `vehicle_id` names the truck or device
    when the provider knows it; the event's subject is the shipment, or `vehicle:<id>`
    when the provider knows only the vehicle (the hub finds the shipment the vehicle is
    assigned to: docs/visibility.md)."""

    latitude: Latitude
    longitude: Longitude
    recorded_at: Instant
    speed_kmh: SpeedKmh | None = None
    heading: Heading | None = None
    """Degrees clockwise from north; 360 is north as 0 is."""
    accuracy_m: Metres | None = None
    vehicle_id: Key | None = None


class VehicleAssignment(Canonical):
    """A vehicle (truck, trailer, telematics device) carries the event's shipment from
    `assigned_at` on, until `until` or the vehicle's next assignment, whichever comes
    first: a dispatch system says so when it dispatches a load."""

    vehicle_id: Key
    assigned_at: Instant
    until: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.until is not None and self.until <= self.assigned_at:
            raise ValueError("an assignment ends after it starts (until > assigned_at)")
        return self
