"""FreightLine rating: metric parcels -> pounds/inches form -> `POST /api/quote` -> `Rate`s."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

from intermodal.canonical.model import Charge, ChargeKind, ChargeStatus, Money, Shipment
from intermodal.connectors.carriers._http import parsing, validate
from intermodal.connectors.carriers.contract import Parcel, Rate, route
from intermodal.connectors.carriers.freightline.schemas import QuoteForm, QuoteResponse

PRODUCTS = {"GROUND": "standard", "PRIORITY": "express"}
"""FreightLine product -> our service level; a product not listed here is not offered."""

LB_PER_KG = Decimal("2.20462262")
CM_PER_IN = Decimal("2.54")


def _up(value: Decimal, places: str = "0.1") -> str:
    return str(value.quantize(Decimal(places), rounding=ROUND_CEILING))


def quote_form(carrier: str, shipment: Shipment, parcels: list[Parcel]) -> dict[str, str]:
    """One handling unit: summed weight, the largest of each dimension (rounded up)."""
    origin, destination = route(shipment, carrier, "rate")
    form = QuoteForm(
        origin_zip=origin.postal_code or "",
        origin_country=origin.country,
        dest_zip=destination.postal_code or "",
        dest_country=destination.country,
        weight_lb=_up(sum((p.weight_kg for p in parcels), Decimal(0)) * LB_PER_KG),
        length_in=_up(max(p.length_cm for p in parcels) / CM_PER_IN),
        width_in=_up(max(p.width_cm for p in parcels) / CM_PER_IN),
        height_in=_up(max(p.height_cm for p in parcels) / CM_PER_IN),
        pieces=str(len(parcels)),
    )
    return form.model_dump()


def parse_quote_response(carrier: str, value: Any) -> list[Rate]:
    def parse() -> list[Rate]:
        response = validate(QuoteResponse, value, carrier, "rate")
        return [
            Rate(
                carrier=carrier,
                service=q.product,
                service_level=PRODUCTS[q.product],
                total=Money(amount=q.amount, currency=q.currency),
                transit_days=int(q.days),
                charges=[
                    Charge(
                        code="freight",
                        kind=ChargeKind.FREIGHT,
                        amount=Money(amount=q.amount, currency=q.currency),
                        status=ChargeStatus.PROVISIONAL,
                    )
                ],
            )
            for q in response.quotes
            if q.product in PRODUCTS
        ]

    return parsing(carrier, "rate", parse)
