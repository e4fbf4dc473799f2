"""ParcelPro simulator: JSON over HTTP, `Authorization: Bearer <key>`, kg and cm, prices
in integer cents, status codes (`PU`, `IT`, `OD`, `DL`, `EX`), errors as
`{"errors": [{"code", "detail"}]}` with a 4xx/5xx status.

Bookings are idempotent by `client_reference`: a second create with the same reference
answers 200 with the existing label instead of making another. A shipment with a scheduled
pickup cannot be voided (409 `pickup_scheduled`): the pickup has to be cancelled first.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal_sim.carriers.script import (
    CarrierScript,
    Label,
    PickupRecord,
    control_routes,
    tracking_script,
)

SERVICES = {"PP_STD": (3, 1.0), "PP_EXP": (1, 1.9)}
STEPS = ["PU", "IT", "IT", "OD", "DL"]


def _error(status: int, code: str, detail: str) -> Response:
    return JSONResponse({"errors": [{"code": code, "detail": detail}]}, status)


def price_cents(weight_kg: float, factor: float) -> int:
    return int((450 + 110 * math.ceil(weight_kg)) * factor)


def _weight(body: dict[str, Any]) -> float:
    parcels = body.get("parcels")
    if not isinstance(parcels, list) or not parcels:
        raise ValueError("parcels: at least one parcel is required")
    total = 0.0
    for parcel in parcels:
        if not isinstance(parcel, dict) or not isinstance(parcel.get("weight_kg"), int | float):
            raise ValueError("parcels[].weight_kg: a number is required")
        total += float(parcel["weight_kg"])
    return total


def _label_json(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "client_reference": label.client_reference,
        "tracking_number": label.tracking_number,
        "service_code": label.service,
        "amount_cents": label.amount_cents,
        "currency": "USD",
        "status": "active" if label.live else "voided",
        "label_pdf_base64": "JVBERi0xLjQK",
    }


def _pickup_json(pickup: PickupRecord) -> dict[str, Any]:
    return {
        "id": pickup.id,
        "shipment_ids": [pickup.label_id],
        "ready_at": pickup.ready_at,
        "status": "scheduled" if pickup.live else "cancelled",
    }


def create_app(script: CarrierScript, api_key: str) -> Starlette:
    async def guard(request: Request) -> Response | None:
        if not await script.enter():
            return _error(503, "unavailable", "scheduled maintenance")
        if request.headers.get("authorization") != f"Bearer {api_key}":
            return _error(401, "unauthorized", "missing or wrong bearer token")
        return None

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            value = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ValueError("body: not JSON") from None
        if not isinstance(value, dict):
            raise ValueError("body: an object is required")
        return value

    async def rates(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            weight = _weight(await body_of(request))
        except ValueError as exc:
            return _error(422, "invalid", str(exc))
        return JSONResponse(
            {
                "rates": [
                    {
                        "service_code": code,
                        "amount_cents": price_cents(weight, factor),
                        "currency": "USD",
                        "transit_days": days,
                        "surcharges": [{"code": "FUEL", "amount_cents": 35}],
                    }
                    for code, (days, factor) in SERVICES.items()
                ]
            }
        )

    async def create(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            body = await body_of(request)
            weight = _weight(body)
        except ValueError as exc:
            return _error(422, "invalid", str(exc))
        reference, service = body.get("client_reference"), body.get("service_code")
        if not isinstance(reference, str) or not reference:
            return _error(422, "invalid", "client_reference: required")
        if service not in SERVICES:
            return _error(422, "invalid_service", f"service_code: unknown {service!r}")
        existing = script.live_labels(reference)
        if existing:
            return JSONResponse({"shipment": _label_json(existing[0])}, 200)
        digest = hashlib.sha256(reference.encode()).hexdigest()[:10].upper()
        with script.lock:
            number = len(script.labels) + 1
            label = Label(
                id=f"pp_{number}",
                client_reference=reference,
                tracking_number=f"PP{digest}{number}",
                service=str(service),
                amount_cents=price_cents(weight, SERVICES[str(service)][1]),
            )
            script.labels[label.id] = label
        if script.take_lost_response():
            return _error(502, "gateway", "upstream timed out")
        return JSONResponse({"shipment": _label_json(label)}, 201)

    async def search(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        reference = request.query_params.get("client_reference", "")
        with script.lock:
            found = [lb for lb in script.labels.values() if lb.client_reference == reference]
        return JSONResponse({"shipments": [_label_json(lb) for lb in found]})

    async def void(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        label_id = request.path_params["id"]
        if script.live_pickups(label_id):
            return _error(409, "pickup_scheduled", "cancel the pickup before voiding")
        with script.lock:
            label = script.labels.get(label_id)
            if label is not None:
                label.live = False
        if label is None:
            return _error(404, "not_found", "no such shipment")
        return JSONResponse({"shipment": _label_json(label)})

    async def schedule_pickup(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            body = await body_of(request)
        except ValueError as exc:
            return _error(422, "invalid", str(exc))
        ids, ready_at = body.get("shipment_ids"), body.get("ready_at")
        if not isinstance(ids, list) or len(ids) != 1 or not isinstance(ready_at, str):
            return _error(422, "invalid", "shipment_ids: one id; ready_at: a timestamp")
        with script.lock:
            label = script.labels.get(str(ids[0]))
            if label is None or not label.live:
                return _error(422, "not_bookable", f"shipment {ids[0]!r} is not active")
            pickup = PickupRecord(f"pk_{len(script.pickups) + 1}", label.id, ready_at)
            script.pickups[pickup.id] = pickup
        return JSONResponse({"pickup": _pickup_json(pickup)}, 201)

    async def list_pickups(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        label_id = request.query_params.get("shipment_id", "")
        with script.lock:
            found = [p for p in script.pickups.values() if p.label_id == label_id]
        return JSONResponse({"pickups": [_pickup_json(p) for p in found]})

    async def cancel_pickup(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        with script.lock:
            pickup = script.pickups.get(request.path_params["id"])
            if pickup is not None:
                pickup.live = False
        if pickup is None:
            return _error(404, "not_found", "no such pickup")
        return JSONResponse({"pickup": _pickup_json(pickup)})

    async def track(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        number = request.path_params["number"]
        with script.lock:
            known = any(lb.tracking_number == number for lb in script.labels.values())
            faults = set(script.tracking_faults)
        if not known:
            return _error(404, "not_found", f"unknown tracking number {number}")
        events = tracking_script(STEPS, "EX", faults)
        return JSONResponse(
            {
                "tracking_number": number,
                "events": [
                    {
                        "code": code,
                        "at": at.isoformat().replace("+00:00", "Z"),
                        "location": {"city": "Rotterdam", "country": "NL"},
                        "note": "address not found" if code == "EX" else None,
                    }
                    for code, at in events
                ],
            }
        )

    return Starlette(
        routes=[
            Route("/v2/rates", rates, methods=["POST"]),
            Route("/v2/shipments", create, methods=["POST"]),
            Route("/v2/shipments", search, methods=["GET"]),
            Route("/v2/shipments/{id}", void, methods=["DELETE"]),
            Route("/v2/tracking/{number}", track, methods=["GET"]),
            Route("/v2/pickups", schedule_pickup, methods=["POST"]),
            Route("/v2/pickups", list_pickups, methods=["GET"]),
            Route("/v2/pickups/{id}", cancel_pickup, methods=["DELETE"]),
            *control_routes(script),
        ]
    )
