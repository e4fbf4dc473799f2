"""WMS simulator: takes pick/pack/ship requests and confirms each stage to the hub.

`POST /v1/orders` takes an outbound order (`order_id`, `shipment_key`, `lines` of `sku` and
`qty`), or the CloudEvent the hub's webhook endpoint sends (the shipment key from
`data.key` / `subject`, one line per package). Orders are idempotent by `order_id`: a
second request answers with the order as it stands.

For each new order, in the background and after the scripted delays, the WMS:
1. picks: every line up to the stock on hand (`stock` in the script, unlimited for SKUs
   it does not name); a line picked short is reported as a `SHORT_PICK` confirmation with
   what was ordered and what was found, which the mapping turns into an `exception`
   milestone with that reason;
2. confirms the pick (`PICKED`), then the pack (`PACKED`, with the package count), then
   the shipment (`SHIPPED`, handed to the carrier: `picked_up`). An order with nothing
   picked at all stops after its short pick, as a real warehouse would.

Each confirmation is one signed webhook (`POST /v1/webhooks/{partner}`), its webhook-id
`<order>-<stage>`, so a resent confirmation is the same message to the hub.

Control: `POST /_sim/control` (see `WmsControl`); inspection: `GET /_sim/orders`,
`GET /_sim/sent`, `GET /v1/orders/{order_id}`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal_sim.partner import (
    BadRequest,
    HubLink,
    InboundAuth,
    PartnerSimulator,
    decode_json,
    error_response,
    inspection_routes,
    is_cloudevent,
    iso_z,
    read_body,
    shipment_key_of,
    validate,
)

Stage = Literal["pick", "pack", "ship"]
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(ge=1, le=1_000_000)


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order_id: str = Field(min_length=1, max_length=128, pattern=KEY_PATTERN)
    shipment_key: str = Field(min_length=1, max_length=128, pattern=KEY_PATTERN)
    lines: list[Line] = Field(min_length=1, max_length=500)


class WmsControl(BaseModel):
    """Body of `POST /_sim/control`; unset fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    stage_delays_ms: dict[Stage, float] | None = None
    """Wait before each stage (pick, pack, ship), in milliseconds."""
    stock: dict[str, int] | None = None
    """On-hand quantity per SKU (replaces the stock of the SKUs named); a line asking for
    more is picked short."""
    hold: list[str] | None = None
    """Order ids to stop before shipping until released."""
    release: list[str] | None = None


@dataclass
class Order:
    order_id: str
    shipment_key: str
    lines: list[dict[str, Any]]
    status: str = "received"
    packages: int = 0
    tracking_number: str | None = None
    confirmations: list[str] = field(default_factory=list)
    release: asyncio.Event | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "shipment_key": self.shipment_key,
            "lines": [dict(line) for line in self.lines],
            "status": self.status,
            "packages": self.packages,
            "tracking_number": self.tracking_number,
            "confirmations": list(self.confirmations),
        }


@dataclass
class WmsScript:
    seed: int = 7
    warehouse: str = "WH-RTM-1"
    stage_delays_ms: dict[str, float] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)
    hold: set[str] = field(default_factory=set)
    orders: dict[str, Order] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def apply(self, control: WmsControl) -> None:
        with self.lock:
            if control.stage_delays_ms is not None:
                self.stage_delays_ms = {
                    k: max(0.0, min(v, 600_000.0)) for k, v in control.stage_delays_ms.items()
                }
            if control.stock is not None:
                self.stock.update({k: max(0, v) for k, v in control.stock.items()})
            if control.hold is not None:
                self.hold.update(control.hold)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "orders": [o.to_json() for o in self.orders.values()],
                "stock": dict(self.stock),
            }


class WmsSimulator(PartnerSimulator):
    def __init__(self, script: WmsScript, link: HubLink, inbound: InboundAuth | None = None):
        super().__init__(link, inbound)
        self.script = script

    def take(self, request: OrderRequest) -> tuple[Order, bool]:
        """The order: new (True), or as it stands when its id came before (False); the same
        id for another shipment is a 409."""
        with self.script.lock:
            existing = self.script.orders.get(request.order_id)
            if existing is not None and existing.shipment_key != request.shipment_key:
                raise BadRequest(
                    409,
                    "conflict",
                    f"order_id {request.order_id!r} belongs to shipment {existing.shipment_key!r}",
                )
            if existing is not None:
                return existing, False
            order = Order(
                request.order_id,
                request.shipment_key,
                [{"sku": line.sku, "qty": line.qty, "picked": 0} for line in request.lines],
            )
            self.script.orders[order.order_id] = order
        self.background.start(self.run(order))
        return order, True

    async def run(self, order: Order) -> None:
        s = self.script
        await self._wait("pick")
        short = []
        with s.lock:
            for line in order.lines:
                available = s.stock.get(line["sku"])
                picked = line["qty"] if available is None else min(line["qty"], available)
                if available is not None:
                    s.stock[line["sku"]] = available - picked
                line["picked"] = picked
                if picked < line["qty"]:
                    short.append(line)
            order.status = "picked"
        if short:
            note = "; ".join(f"{ln['sku']} picked {ln['picked']} of {ln['qty']}" for ln in short)
            await self.confirm(order, "SHORT_PICK", {"note": f"short pick: {note}"})
        if all(line["picked"] == 0 for line in order.lines):
            order.status = "unfulfillable"
            return
        await self.confirm(order, "PICKED", {})
        await self._wait("pack")
        with s.lock:
            units = sum(line["picked"] for line in order.lines)
            order.packages = max(1, min(units, 1 + s.random.randint(0, 2)))
            order.status = "packed"
        await self.confirm(order, "PACKED", {"packages": order.packages})
        with s.lock:
            held = order.order_id in s.hold
            if held:
                order.release = asyncio.Event()
                order.status = "held"
        if held and order.release is not None:
            await order.release.wait()
        await self._wait("ship")
        with s.lock:
            order.tracking_number = f"SIM{s.random.randint(10**9, 10**10 - 1)}"
            order.status = "shipped"
        await self.confirm(
            order, "SHIPPED", {"tracking_number": order.tracking_number, "carrier": "parcelpro"}
        )

    async def _wait(self, stage: str) -> None:
        with self.script.lock:
            delay = self.script.stage_delays_ms.get(stage, 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    async def confirm(self, order: Order, stage: str, extra: dict[str, Any]) -> None:
        at = self.clock.tick(order.shipment_key)
        message_id = f"{order.order_id}-{stage.lower()}"
        order.confirmations.append(stage)
        payload = {
            "kind": "wms.confirmation",
            "confirmation_id": message_id,
            "warehouse": self.script.warehouse,
            "order_id": order.order_id,
            "shipment_key": order.shipment_key,
            "stage": stage,
            "occurred_at": iso_z(at),
            "lines": [dict(line) for line in order.lines],
            **extra,
        }
        await self.link.webhook(message_id, payload, stage, order.shipment_key)

    def app(self) -> Starlette:
        async def create(request: Request) -> Response:
            try:
                body = await read_body(request)
                self.inbound.check(request, body)
                value = decode_json(body)
                if is_cloudevent(value):
                    value = _from_cloudevent(value)
                if not isinstance(value, dict):
                    raise BadRequest(422, "invalid", "body: an order object is required")
                order, new = self.take(validate(OrderRequest, value))
            except BadRequest as exc:
                return error_response(exc)
            return JSONResponse({**order.to_json(), "duplicate": not new}, 201 if new else 200)

        async def get_order(request: Request) -> Response:
            with self.script.lock:
                order = self.script.orders.get(request.path_params["order_id"])
                found = order.to_json() if order else None
            if found is None:
                return error_response(BadRequest(404, "not_found", "no such order"))
            return JSONResponse(found)

        async def control(request: Request) -> Response:
            try:
                command = validate(WmsControl, decode_json(await read_body(request)))
            except BadRequest as exc:
                return error_response(exc)
            self.script.apply(command)
            for order_id in command.release or []:
                with self.script.lock:
                    self.script.hold.discard(order_id)
                    order = self.script.orders.get(order_id)
                if order is not None and order.release is not None:
                    order.release.set()
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/v1/orders", create, methods=["POST"]),
                Route("/v1/orders/{order_id}", get_order, methods=["GET"]),
                Route("/_sim/control", control, methods=["POST"]),
                *inspection_routes("orders", self.script.snapshot, self.background, self.link),
            ],
            lifespan=self.background.lifespan,
        )


def _from_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """An order from the hub's CloudEvent: `data.order_id`/`data.lines` when it carries
    them, else the shipment key as the order id and one line per package."""
    found = event.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    key = shipment_key_of(event) or ""
    lines = data.get("lines") if isinstance(data.get("lines"), list) else None
    return {
        "order_id": data.get("order_id") or key,
        "shipment_key": key,
        "lines": lines or [{"sku": "PKG", "qty": 1}],
    }
