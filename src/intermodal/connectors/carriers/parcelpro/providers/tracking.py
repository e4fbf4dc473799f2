"""ParcelPro tracking: `GET /v2/tracking/{number}`; status codes -> canonical milestones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intermodal.canonical.model import Address, MilestoneEvent, MilestoneType
from intermodal.connectors.carriers._http import in_order, parsing, validate
from intermodal.connectors.carriers.contract import CarrierResponseError
from intermodal.connectors.carriers.parcelpro.schemas import TrackingResponse

STATUS_CODES: dict[str, MilestoneType] = {
    "PU": MilestoneType.PICKED_UP,
    "IT": MilestoneType.IN_TRANSIT,
    "OD": MilestoneType.OUT_FOR_DELIVERY,
    "DL": MilestoneType.DELIVERED,
    "EX": MilestoneType.EXCEPTION,
    "RT": MilestoneType.RETURNED,
}
"""The status table is data: a code missing here is a typed error, never a guess."""


def parse_tracking_response(carrier: str, value: Any) -> list[MilestoneEvent]:
    def parse() -> list[MilestoneEvent]:
        response = validate(TrackingResponse, value, carrier, "track")
        events = []
        for event in response.events:
            milestone = STATUS_CODES.get(event.code)
            if milestone is None:
                raise CarrierResponseError(carrier, "track", f"unknown status code {event.code!r}")
            where = event.location
            events.append(
                MilestoneEvent(
                    milestone=milestone,
                    occurred_at=datetime.fromisoformat(event.at),
                    location=Address(city=where.city, country=where.country)
                    if where is not None and where.country
                    else None,
                    reason=event.note or None,
                    tracking_number=response.tracking_number,
                )
            )
        return in_order(events)

    return parsing(carrier, "track", parse)
