"""Canonical model v1: shipments, parties, stops, milestones, proof of delivery, charges.

Partners' words (status codes, field names) stay inside their mappings; everything past
normalisation speaks only these types. Datetimes are always timezone-aware so that a
milestone's order never depends on which server parsed it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from intermodal.canonical.iso4217 import ISO_4217_CODES


class Canonical(BaseModel):
    """Base of every canonical type: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Key = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
]
"""A shipment key or reference: printable, no spaces, safe in URLs and log lines."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
LongText = Annotated[str, StringConstraints(max_length=4000)]


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
    if code not in ISO_4217_CODES:
        raise ValueError(f"'{code}' is not an ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_currency)
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Money(Canonical):
    """An amount in one ISO 4217 currency; Decimal so that invoices add up to the cent."""

    amount: Annotated[Decimal, Field(max_digits=18, decimal_places=6, allow_inf_nan=False)]
    currency: CurrencyCode


class Address(Canonical):
    street: ShortText | None = None
    street2: ShortText | None = None
    city: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(max_length=32)] | None = None
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
    odoo_partner_id: Annotated[int, Field(gt=0)] | None = None
    address: Address | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None


class TimeWindow(Canonical):
    start: AwareDatetime
    end: AwareDatetime

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
    occurred_at: AwareDatetime


class ProofOfDelivery(Canonical):
    delivered_at: AwareDatetime
    signed_by: ShortText | None = None
    document_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    photo_urls: Annotated[
        list[Annotated[str, StringConstraints(max_length=2048)]], Field(max_length=20)
    ] = []
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


class MilestoneEvent(Canonical):
    """A milestone asserted by a partner: what happened, when, and optionally where/why."""

    milestone: MilestoneType
    occurred_at: AwareDatetime
    location: Address | None = None
    reason: LongText | None = None
    tracking_number: Key | None = None
