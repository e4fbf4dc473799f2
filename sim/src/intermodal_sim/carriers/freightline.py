"""FreightLine simulator: form-encoded requests, HTTP Basic auth, pounds and inches,
amounts as decimal strings, status words ("PICKED UP", "DELIVERED"), and faults reported
as `{"fault": {"faultcode", "faultstring"}}` with HTTP 200, like an old SOAP gateway.

Bookings are NOT idempotent here: a second booking with the same `shipper_ref` makes a
second label, so the hub has to look its reference up before booking again. Cancelling a
booking cancels its pickups with it.
"""

from __future__ import annotations

import base64
import math
from decimal import Decimal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from intermodal_sim.carriers.script import (
    CarrierScript,
    Label,
    PickupRecord,
    control_routes,
    tracking_script,
)

PRODUCTS = {"GROUND": (4, Decimal("1.0")), "PRIORITY": (2, Decimal("1.6"))}
STEPS = ["PICKED UP", "IN TRANSIT", "IN TRANSIT", "OUT FOR DELIVERY", "DELIVERED"]


def _fault(code: str, text: str) -> Response:
    return JSONResponse({"fault": {"faultcode": code, "faultstring": text}})


def price(weight_lb: Decimal, factor: Decimal) -> Decimal:
    return ((Decimal("9.00") + Decimal("0.31") * math.ceil(weight_lb)) * factor).quantize(
        Decimal("0.01")
    )


def _label_json(label: Label) -> dict[str, str]:
    return {
        "pro_number": label.tracking_number,
        "booking_ref": label.id,
        "shipper_ref": label.client_reference,
        "product": label.service,
        "total": f"{Decimal(label.amount_cents) / 100:.2f}",
        "currency": "USD",
        "state": "BOOKED" if label.live else "CANCELLED",
        "label_zpl": "^XA^FO50,50^FDFREIGHTLINE^FS^XZ",
    }


def _pickup_json(pickup: PickupRecord) -> dict[str, str]:
    return {
        "confirmation": pickup.id,
        "booking_ref": pickup.label_id,
        "ready_date": pickup.ready_at,
        "state": "SCHEDULED" if pickup.live else "CANCELLED",
    }


async def form_of(request: Request) -> dict[str, str]:
    """The form fields; parsed here because the gateway only ever sends urlencoded bodies."""
    text = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def create_app(script: CarrierScript, username: str, password: str) -> Starlette:
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    async def guard(request: Request) -> Response | None:
        if not await script.enter():
            return PlainTextResponse("Service Unavailable", 503)
        if request.headers.get("authorization") != expected:
            return _fault("Client.Authentication", "invalid credentials")
        return None

    async def weight_of(request: Request) -> tuple[dict[str, str], Decimal]:
        fields = await form_of(request)
        try:
            weight = Decimal(fields.get("weight_lb", ""))
        except ArithmeticError:
            raise ValueError("weight_lb must be a decimal number") from None
        if not weight.is_finite() or weight <= 0:
            raise ValueError("weight_lb must be positive")
        return fields, weight

    async def quote(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            _fields, weight = await weight_of(request)
        except ValueError as exc:
            return _fault("Client.Validation", str(exc))
        return JSONResponse(
            {
                "quotes": [
                    {
                        "product": product,
                        "total": f"{price(weight, factor):.2f}",
                        "currency": "USD",
                        "days": str(days),
                    }
                    for product, (days, factor) in PRODUCTS.items()
                ]
            }
        )

    async def book(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            fields, weight = await weight_of(request)
        except ValueError as exc:
            return _fault("Client.Validation", str(exc))
        product, reference = fields.get("product", ""), fields.get("shipper_ref", "")
        if product not in PRODUCTS:
            return _fault("Client.Product", f"unknown product {product!r}")
        if not reference:
            return _fault("Client.Validation", "shipper_ref is required")
        with script.lock:
            number = len(script.labels) + 1
            label = Label(
                id=f"FL-{number:06d}",
                client_reference=reference,
                tracking_number=f"{70000000 + number}",
                service=product,
                amount_cents=int(price(weight, PRODUCTS[product][1]) * 100),
            )
            script.labels[label.id] = label
        if script.take_lost_response():
            return PlainTextResponse("Bad Gateway", 502)
        return JSONResponse({"booking": _label_json(label)})

    async def lookup(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        reference = request.query_params.get("shipper_ref", "")
        with script.lock:
            found = [lb for lb in script.labels.values() if lb.client_reference == reference]
        return JSONResponse({"bookings": [_label_json(lb) for lb in found]})

    async def cancel(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        booking_ref = (await form_of(request)).get("booking_ref", "")
        with script.lock:
            label = script.labels.get(booking_ref)
            if label is not None:
                label.live = False
                for pickup in script.pickups.values():
                    if pickup.label_id == label.id:
                        pickup.live = False
        if label is None:
            return _fault("Client.NotFound", f"no booking {booking_ref!r}")
        return JSONResponse({"booking": _label_json(label)})

    async def trace(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        pro = request.query_params.get("pro", "")
        with script.lock:
            known = any(lb.tracking_number == pro for lb in script.labels.values())
            faults = set(script.tracking_faults)
        if not known:
            return _fault("Client.NotFound", f"no shipment with PRO {pro}")
        events = tracking_script(STEPS, "EXCEPTION", faults)
        return JSONResponse(
            {
                "pro_number": pro,
                "history": [
                    {
                        "status": status,
                        "date": at.strftime("%Y-%m-%d"),
                        "time": at.strftime("%H:%M"),
                        "utc_offset": "+00:00",
                        "city": "Memphis",
                        "remarks": "consignee closed" if status == "EXCEPTION" else "",
                    }
                    for status, at in events
                ],
            }
        )

    async def schedule_pickup(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        fields = await form_of(request)
        booking_ref, ready = fields.get("booking_ref", ""), fields.get("ready_date", "")
        with script.lock:
            label = script.labels.get(booking_ref)
            if label is None or not label.live:
                return _fault("Client.NotFound", f"no open booking {booking_ref!r}")
            pickup = PickupRecord(f"PU{90000 + len(script.pickups) + 1}", label.id, ready)
            script.pickups[pickup.id] = pickup
        return JSONResponse({"pickup": _pickup_json(pickup)})

    async def list_pickups(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        booking_ref = request.query_params.get("booking_ref", "")
        with script.lock:
            found = [p for p in script.pickups.values() if p.label_id == booking_ref]
        return JSONResponse({"pickups": [_pickup_json(p) for p in found]})

    async def cancel_pickup(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        confirmation = (await form_of(request)).get("confirmation", "")
        with script.lock:
            pickup = script.pickups.get(confirmation)
            if pickup is not None:
                pickup.live = False
        if pickup is None:
            return _fault("Client.NotFound", f"no pickup {confirmation!r}")
        return JSONResponse({"pickup": _pickup_json(pickup)})

    return Starlette(
        routes=[
            Route("/api/quote", quote, methods=["POST"]),
            Route("/api/book", book, methods=["POST"]),
            Route("/api/booking", lookup, methods=["GET"]),
            Route("/api/cancel", cancel, methods=["POST"]),
            Route("/api/trace", trace, methods=["GET"]),
            Route("/api/pickup", schedule_pickup, methods=["POST"]),
            Route("/api/pickup", list_pickups, methods=["GET"]),
            Route("/api/pickup/cancel", cancel_pickup, methods=["POST"]),
            *control_routes(script),
        ]
    )
