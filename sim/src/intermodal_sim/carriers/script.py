"""What a carrier simulator can be told to do, and the labels it holds.

Shared by both carriers so the tests script them the same way, in-process (attributes)
or over HTTP (`POST /_sim/control`, `GET /_sim/labels`) when started from the CLI.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Control(BaseModel):
    """Body of `POST /_sim/control`; unset fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    outage: bool | None = None
    latency_ms: float | None = Field(default=None, ge=0, le=60_000)
    lose_booking_responses: int | None = Field(default=None, ge=0, le=1000)
    tracking_faults: list[str] | None = None


TRACKING_FAULTS = frozenset({"duplicates", "gaps", "reorder", "exception"})


@dataclass
class Label:
    id: str
    client_reference: str
    tracking_number: str
    service: str
    amount_cents: int
    live: bool = True


@dataclass
class PickupRecord:
    id: str
    label_id: str
    ready_at: str
    live: bool = True


@dataclass
class CarrierScript:
    """Scripted behaviour plus the carrier's ledger of labels; thread-safe."""

    outage: bool = False
    latency_ms: float = 0.0
    lose_booking_responses: int = 0
    tracking_faults: set[str] = field(default_factory=set)
    labels: dict[str, Label] = field(default_factory=dict)
    pickups: dict[str, PickupRecord] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, control: Control) -> None:
        with self.lock:
            if control.outage is not None:
                self.outage = control.outage
            if control.latency_ms is not None:
                self.latency_ms = control.latency_ms
            if control.lose_booking_responses is not None:
                self.lose_booking_responses = control.lose_booking_responses
            if control.tracking_faults is not None:
                unknown = set(control.tracking_faults) - TRACKING_FAULTS
                if unknown:
                    raise ValueError(f"unknown tracking faults: {sorted(unknown)}")
                self.tracking_faults = set(control.tracking_faults)

    async def enter(self) -> bool:
        """Count the request, wait the scripted latency; False while in an outage."""
        with self.lock:
            self.requests += 1
            delay, outage = self.latency_ms / 1000, self.outage
        if delay:
            await asyncio.sleep(delay)
        return not outage

    def take_lost_response(self) -> bool:
        """True if this booking's answer is to be lost after the label was made."""
        with self.lock:
            if self.lose_booking_responses > 0:
                self.lose_booking_responses -= 1
                return True
            return False

    def live_labels(self, client_reference: str | None = None) -> list[Label]:
        with self.lock:
            return [
                label
                for label in self.labels.values()
                if label.live
                and (client_reference is None or label.client_reference == client_reference)
            ]

    def live_pickups(self, label_id: str | None = None) -> list[PickupRecord]:
        with self.lock:
            return [
                p
                for p in self.pickups.values()
                if p.live and (label_id is None or p.label_id == label_id)
            ]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "labels": [vars(label) for label in self.labels.values()],
                "pickups": [vars(pickup) for pickup in self.pickups.values()],
            }


def tracking_script(
    steps: list[str], exception: str, faults: set[str], start: datetime | None = None
) -> list[tuple[str, datetime]]:
    """A shipment's status history as the carrier reports it, with the scripted faults.

    Times are one hour apart from `start`; faults are applied to the reported list only,
    so the hub has to restore order and drop duplicates itself.
    """
    start = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    codes = list(steps)
    if "exception" in faults:
        codes.insert(len(codes) - 1, exception)
    events = [(code, start + timedelta(hours=i)) for i, code in enumerate(codes)]
    if "gaps" in faults and len(events) > 3:
        del events[2]
    if "duplicates" in faults:
        events.insert(2, events[1])
    if "reorder" in faults and len(events) > 2:
        events[0], events[-1] = events[-1], events[0]
    return events


def control_routes(script: CarrierScript) -> list[Route]:
    """`POST /_sim/control` scripts the sim; `GET /_sim/labels` shows its ledger."""

    async def control(request: Request) -> Response:
        try:
            script.apply(Control.model_validate_json(await request.body()))
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, 422)
        return JSONResponse({"ok": True})

    async def labels(_request: Request) -> Response:
        return JSONResponse(script.snapshot())

    return [
        Route("/_sim/control", control, methods=["POST"]),
        Route("/_sim/labels", labels, methods=["GET"]),
    ]
