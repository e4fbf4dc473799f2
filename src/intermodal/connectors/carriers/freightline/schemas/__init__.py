"""FreightLine's form fields and JSON answers, typed from the gateway's own samples.

Amounts and days come as strings ("123.45", "4"); they are parsed as Decimal/int here so
a float never touches a price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


DecimalText = Annotated[str, Field(pattern=r"^\d{1,12}(\.\d{1,4})?$")]
DaysText = Annotated[str, Field(pattern=r"^\d{1,3}$")]


class QuoteForm(_Body):
    origin_zip: str = ""
    origin_country: str
    dest_zip: str = ""
    dest_country: str
    weight_lb: str
    length_in: str
    width_in: str
    height_in: str
    pieces: str


class BookForm(QuoteForm):
    product: str
    shipper_ref: str


class Quote(_Body):
    product: str
    total: DecimalText
    currency: str
    days: DaysText

    @property
    def amount(self) -> Decimal:
        return Decimal(self.total)


class QuoteResponse(_Body):
    quotes: list[Quote]


class BookingDetail(_Body):
    pro_number: str
    booking_ref: str
    shipper_ref: str
    product: str
    total: DecimalText
    currency: str
    state: str
    label_zpl: str


class BookingResponse(_Body):
    booking: BookingDetail


class BookingList(_Body):
    bookings: list[BookingDetail]


class TraceEntry(_Body):
    status: str
    date: str
    time: str
    utc_offset: str
    city: str | None = None
    remarks: str | None = None


class TraceResponse(_Body):
    pro_number: str
    history: list[TraceEntry]


class Fault(_Body):
    faultcode: str
    faultstring: str


class FaultResponse(_Body):
    fault: Fault


class PickupDetail(_Body):
    confirmation: str
    booking_ref: str
    state: str


class PickupResponse(_Body):
    pickup: PickupDetail


class PickupList(_Body):
    pickups: list[PickupDetail]
