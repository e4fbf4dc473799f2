"""ParcelPro connector: each operation is build request -> proxy -> parse response."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx

from intermodal.canonical.model import MilestoneEvent, Shipment
from intermodal.connectors.carriers.contract import Booking, Parcel, Pickup, Rate
from intermodal.connectors.carriers.parcelpro.mappers.proxy import ParcelProProxy
from intermodal.connectors.carriers.parcelpro.providers.pickup import (
    parse_cancel_pickup_response,
    parse_pickup_list,
    parse_pickup_response,
    pickup_request,
)
from intermodal.connectors.carriers.parcelpro.providers.rate import (
    parse_rate_response,
    rate_request,
)
from intermodal.connectors.carriers.parcelpro.providers.shipment.create import (
    parse_search_response,
    parse_shipment_response,
    shipment_request,
)
from intermodal.connectors.carriers.parcelpro.providers.shipment.void import (
    parse_void_response,
    void_path,
)
from intermodal.connectors.carriers.parcelpro.providers.tracking import parse_tracking_response


class ParcelProConnector:
    def __init__(
        self, name: str, url: str, api_key: str, client: httpx.AsyncClient, timeout: float = 10.0
    ) -> None:
        self.name = name
        self.proxy = ParcelProProxy(name, url, api_key, client, timeout)

    async def rate(self, shipment: Shipment, parcels: list[Parcel]) -> list[Rate]:
        body = rate_request(self.name, shipment, parcels)
        return parse_rate_response(
            self.name, await self.proxy.call("rate", "POST", "/v2/rates", body)
        )

    async def book(
        self, shipment: Shipment, parcels: list[Parcel], rate: Rate, client_reference: str
    ) -> Booking:
        body = shipment_request(self.name, shipment, parcels, rate, client_reference)
        value = await self.proxy.call("book", "POST", "/v2/shipments", body)
        return parse_shipment_response(self.name, shipment.key, value)

    async def find(self, client_reference: str, shipment_key: str) -> Booking | None:
        value = await self.proxy.call(
            "find", "GET", "/v2/shipments", params={"client_reference": client_reference}
        )
        return parse_search_response(self.name, shipment_key, value)

    async def void(self, booking: Booking) -> None:
        value = await self.proxy.call("void", "DELETE", void_path(quote(booking.booking_id)))
        parse_void_response(self.name, value)

    async def schedule_pickup(self, booking: Booking, ready_at: datetime) -> Pickup:
        body = pickup_request(booking, ready_at)
        value = await self.proxy.call("pickup", "POST", "/v2/pickups", body)
        return parse_pickup_response(self.name, value)

    async def pickups(self, booking: Booking) -> list[Pickup]:
        params = {"shipment_id": booking.booking_id}
        value = await self.proxy.call("pickups", "GET", "/v2/pickups", params=params)
        return parse_pickup_list(self.name, value)

    async def cancel_pickup(self, pickup: Pickup) -> None:
        path = f"/v2/pickups/{quote(pickup.pickup_id, safe='')}"
        parse_cancel_pickup_response(
            self.name, await self.proxy.call("cancel_pickup", "DELETE", path)
        )

    async def track(self, tracking_number: str) -> list[MilestoneEvent]:
        path = f"/v2/tracking/{quote(tracking_number, safe='')}"
        return parse_tracking_response(self.name, await self.proxy.call("track", "GET", path))

    async def aclose(self) -> None:
        return None
