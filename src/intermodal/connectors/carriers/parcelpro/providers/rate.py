"""ParcelPro rating: canonical shipment + parcels -> `POST /v2/rates` -> `Rate`s."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from intermodal.canonical.model import Address, Charge, ChargeKind, ChargeStatus, Money, Shipment
from intermodal.connectors.carriers._http import parsing, validate
from intermodal.connectors.carriers.contract import Parcel, Rate, route
from intermodal.connectors.carriers.parcelpro.schemas import (
    ParcelRequest,
    PlaceRequest,
    RateRequest,
    RateResponse,
)

SERVICE_LEVELS = {"PP_STD": "standard", "PP_EXP": "express"}
"""ParcelPro service code -> our service level; a code not listed here is not offered."""


def place(address: Address) -> PlaceRequest:
    return PlaceRequest(country=address.country, postal_code=address.postal_code, city=address.city)


def parcels_request(parcels: list[Parcel]) -> list[ParcelRequest]:
    return [
        ParcelRequest(
            weight_kg=float(p.weight_kg),
            dims_cm=[float(p.length_cm), float(p.width_cm), float(p.height_cm)],
        )
        for p in parcels
    ]


def rate_request(carrier: str, shipment: Shipment, parcels: list[Parcel]) -> dict[str, Any]:
    origin, destination = route(shipment, carrier, "rate")
    body = RateRequest.model_validate(
        {"from": place(origin), "to": place(destination), "parcels": parcels_request(parcels)}
    )
    return body.model_dump(by_alias=True, exclude_none=True)


def cents(value: int, currency: str) -> Money:
    return Money(amount=Decimal(value) / 100, currency=currency)


def parse_rate_response(carrier: str, value: Any) -> list[Rate]:
    def parse() -> list[Rate]:
        response = validate(RateResponse, value, carrier, "rate")
        return [
            Rate(
                carrier=carrier,
                service=r.service_code,
                service_level=SERVICE_LEVELS[r.service_code],
                total=cents(r.amount_cents + sum(s.amount_cents for s in r.surcharges), r.currency),
                transit_days=r.transit_days,
                charges=[
                    Charge(
                        code="freight",
                        kind=ChargeKind.FREIGHT,
                        amount=cents(r.amount_cents, r.currency),
                        status=ChargeStatus.PROVISIONAL,
                    ),
                    *(
                        Charge(
                            code=s.code.lower(),
                            kind=ChargeKind.FUEL if s.code == "FUEL" else ChargeKind.SURCHARGE,
                            amount=cents(s.amount_cents, r.currency),
                            status=ChargeStatus.PROVISIONAL,
                        )
                        for s in r.surcharges
                    ),
                ],
            )
            for r in response.rates
            if r.service_code in SERVICE_LEVELS
        ]

    return parsing(carrier, "rate", parse)
