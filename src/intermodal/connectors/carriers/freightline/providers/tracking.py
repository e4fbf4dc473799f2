"""FreightLine tracing: `GET /api/trace?pro=`; status words -> canonical milestones.

Times come as separate date, time and UTC offset fields; they are joined into one
timezone-aware datetime here, so ordering never depends on the server's zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intermodal.canonical.model import Address, MilestoneEvent, MilestoneType
from intermodal.connectors.carriers._http import in_order, parsing, validate
from intermodal.connectors.carriers.contract import CarrierResponseError
from intermodal.connectors.carriers.freightline.schemas import TraceResponse

STATUS_WORDS: dict[str, MilestoneType] = {
    "PICKED UP": MilestoneType.PICKED_UP,
    "IN TRANSIT": MilestoneType.IN_TRANSIT,
    "OUT FOR DELIVERY": MilestoneType.OUT_FOR_DELIVERY,
    "DELIVERED": MilestoneType.DELIVERED,
    "EXCEPTION": MilestoneType.EXCEPTION,
    "CANCELLED": MilestoneType.CANCELLED,
}


def parse_trace_response(carrier: str, value: Any) -> list[MilestoneEvent]:
    def parse() -> list[MilestoneEvent]:
        response = validate(TraceResponse, value, carrier, "track")
        events = []
        for entry in response.history:
            milestone = STATUS_WORDS.get(entry.status.strip().upper())
            if milestone is None:
                raise CarrierResponseError(carrier, "track", f"unknown status {entry.status!r}")
            at = datetime.strptime(
                f"{entry.date} {entry.time} {entry.utc_offset}", "%Y-%m-%d %H:%M %z"
            )
            events.append(
                MilestoneEvent(
                    milestone=milestone,
                    occurred_at=at,
                    location=Address(city=entry.city, country="US") if entry.city else None,
                    reason=entry.remarks or None,
                    tracking_number=response.pro_number,
                )
            )
        return in_order(events)

    return parsing(carrier, "track", parse)
