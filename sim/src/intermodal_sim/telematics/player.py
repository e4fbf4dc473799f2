"""Plays a fleet plan against a hub: virtual seconds to wall time, messages to HTTP.

The run lasts `horizon / speedup` wall seconds. A fix recorded `v` virtual seconds into
the run carries the time `end - (horizon - v)`, where `end` is when the run will be over:
every fix is in the past when it is sent (never ahead of the hub's clock), fixes keep
their true spacing (so the speeds the hub implies are the trucks' real ones, whatever
the speed-up), and the last ones are current when the run ends.

What a message looks like is the provider's own JSON (examples/partners/telematics/
mapping.yaml) or canonical position events, rendered here from the plan and the run's
`anchor` (the time of virtual second 0): the plan is the seeded part, the rendering
adds the clock. Ids come from the device and the fix's time, so a resend is the same
message to the hub and a new run never collides with an old one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from intermodal_sim.partner import HubLink, Report, iso_z
from intermodal_sim.telematics.fleet import Delivery, Fix, FleetPlan, Trip

SOURCE = "telematics"


def recorded_at(anchor: datetime, at_s: float) -> datetime:
    return anchor + timedelta(seconds=round(at_s, 3))


def fix_id(fix: Fix, anchor: datetime) -> str:
    millis = int(recorded_at(anchor, fix.at_s).timestamp() * 1000)
    return f"{fix.vehicle_id}-{millis}"


def provider_fix(fix: Fix, trip: Trip, anchor: datetime) -> dict[str, Any]:
    """One fix in the provider's JSON: the shipment only when the trip names it on fixes."""
    item: dict[str, Any] = {
        "id": fix_id(fix, anchor),
        "device": fix.vehicle_id,
        "ts": iso_z(recorded_at(anchor, fix.at_s)),
        "lat": fix.latitude,
        "lng": fix.longitude,
        "speed_kph": fix.speed_kmh,
        "bearing": fix.heading,
        "accuracy_m": fix.accuracy_m,
    }
    if trip.announce == "shipment":
        item["shipment"] = trip.shipment_key
    return item


def canonical_fix(fix: Fix, trip: Trip, anchor: datetime) -> dict[str, Any]:
    """One fix as a canonical `intermodal.position.reported` event."""
    at = iso_z(recorded_at(anchor, fix.at_s))
    subject = trip.shipment_key if trip.announce == "shipment" else f"vehicle:{fix.vehicle_id}"
    return {
        "specversion": "1.0",
        "id": fix_id(fix, anchor),
        "source": SOURCE,
        "type": "intermodal.position.reported",
        "subject": subject,
        "time": at,
        "data": {
            "latitude": fix.latitude,
            "longitude": fix.longitude,
            "recorded_at": at,
            "speed_kmh": fix.speed_kmh,
            "heading": fix.heading,
            "accuracy_m": fix.accuracy_m,
            "vehicle_id": fix.vehicle_id,
        },
    }


def trip_start(trip: Trip, at: datetime) -> dict[str, Any]:
    return {
        "type": "trip",
        "trip": f"TRIP-{trip.shipment_key}-{trip.vehicle_id}",
        "device": trip.vehicle_id,
        "shipment": trip.shipment_key,
        "started_at": iso_z(at),
    }


def canonical_trip_start(trip: Trip, at: datetime) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"TRIP-{trip.shipment_key}-{trip.vehicle_id}",
        "source": SOURCE,
        "type": "intermodal.vehicle.assigned",
        "subject": trip.shipment_key,
        "time": iso_z(at),
        "data": {"vehicle_id": trip.vehicle_id, "assigned_at": iso_z(at)},
    }


@dataclass(frozen=True)
class Message:
    """A delivery rendered: where it goes, its id, its body."""

    channel: str
    message_id: str
    kind: str
    subject: str
    payload: Any


def render(delivery: Delivery, anchor: datetime) -> Message:
    """The message for a delivery; its id is stable across resends."""
    trip = delivery.trip
    if delivery.is_trip_start:
        at = recorded_at(anchor, delivery.send_s)
        if delivery.channel == "events":
            return Message("events", f"trip-{trip.vehicle_id}-{int(at.timestamp())}", "trip",
                           trip.shipment_key, [canonical_trip_start(trip, at)])  # fmt: skip
        payload = trip_start(trip, at)
        return Message("webhook", payload["trip"], "trip", trip.shipment_key, payload)
    first = fix_id(delivery.fixes[0], anchor)
    if delivery.channel == "events":
        events = [canonical_fix(f, trip, anchor) for f in delivery.fixes]
        return Message(
            "events", f"ev-{first}-{len(events)}", "positions", trip.shipment_key, events
        )
    if delivery.channel == "bulk":
        items = [provider_fix(f, trip, anchor) for f in delivery.fixes]
        batch = f"b-{first}-{len(items)}"
        return Message("webhook", batch, "positions", trip.shipment_key,
                       {"type": "positions", "batch": batch, "positions": items})  # fmt: skip
    item = provider_fix(delivery.fixes[0], trip, anchor)
    return Message(
        "webhook", item["id"], "position", trip.shipment_key, {"type": "position", **item}
    )


@dataclass
class FleetTally:
    """What the fleet sent, and what the hub answered."""

    messages: int = 0
    fixes: int = 0
    accepted: int = 0
    duplicates: int = 0
    """Messages the hub answered as already received (resends)."""
    failed: int = 0
    logged: int = 0
    """Messages only logged: a link without a hub URL (standalone)."""
    errors: list[str] = field(default_factory=list)


async def play(
    link: HubLink,
    plan: FleetPlan,
    speedup: float = 60.0,
    concurrency: int = 8,
    progress: Callable[[float], None] | None = None,
) -> FleetTally:
    """Send the plan's messages at their times (`speedup` virtual seconds per wall
    second); returns what was sent and answered. `progress` hears the share done."""
    if speedup <= 0:
        raise ValueError("speedup must be positive")
    started = time.monotonic()
    wall = plan.horizon_s / speedup
    anchor = datetime.now(UTC) + timedelta(seconds=wall) - timedelta(seconds=plan.horizon_s)
    tally = FleetTally()
    gate = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def send(message: Message, fixes: int) -> None:
        async with gate:
            report = await _post(link, message)
        tally.messages += 1
        tally.fixes += fixes
        _count(tally, report)

    total = len(plan.deliveries)
    for done, delivery in enumerate(plan.deliveries):
        delay = started + delivery.send_s / speedup - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        message = render(delivery, anchor)
        task = asyncio.get_running_loop().create_task(send(message, len(delivery.fixes)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if progress is not None and done % 50 == 0:
            progress(done / max(1, total))
    if tasks:
        await asyncio.gather(*tasks)
    if progress is not None:
        progress(1.0)
    return tally


async def _post(link: HubLink, message: Message) -> Report:
    if message.channel == "events":
        return await link.events(message.message_id, message.payload, message.kind, message.subject)
    return await link.webhook(message.message_id, message.payload, message.kind, message.subject)


def _count(tally: FleetTally, report: Report) -> None:
    if report.status is None and (report.error or "").startswith("standalone"):
        tally.logged += 1
    elif report.status == 200 and isinstance(report.answer, dict) and "receipt_id" in report.answer:
        tally.duplicates += 1  # a webhook sent again: the original receipt
    elif report.delivered:
        tally.accepted += 1
        answer = report.answer
        if isinstance(answer, dict) and answer.get("duplicate"):
            tally.duplicates += 1
    else:
        tally.failed += 1
        if len(tally.errors) < 20:
            tally.errors.append(f"{report.kind} {report.message_id}: {report.error}")
