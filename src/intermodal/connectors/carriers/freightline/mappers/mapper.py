"""FreightLine connector: each operation is build form -> proxy -> parse answer."""

from __future__ import annotations

from datetime import datetime

import httpx

from intermodal.canonical.model import MilestoneEvent, Shipment
from intermodal.connectors.carriers.contract import Booking, Parcel, Pickup, Rate
from intermodal.connectors.carriers.freightline.mappers.proxy import FreightLineProxy
from intermodal.connectors.carriers.freightline.providers.pickup import (
    parse_cancel_pickup_response,
    parse_pickup_list,
    parse_pickup_response,
    pickup_form,
)
from intermodal.connectors.carriers.freightline.providers.rate import (
    parse_quote_response,
    quote_form,
)
from intermodal.connectors.carriers.freightline.providers.shipment.create import (
    book_form,
    parse_book_response,
    parse_lookup_response,
)
from intermodal.connectors.carriers.freightline.providers.shipment.void import (
    cancel_form,
    parse_cancel_response,
)
from intermodal.connectors.carriers.freightline.providers.tracking import parse_trace_response


class FreightLineConnector:
    def __init__(
        self,
        name: str,
        url: str,
        username: str,
        password: str,
        client: httpx.AsyncClient,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.proxy = FreightLineProxy(name, url, username, password, client, timeout)

    async def rate(self, shipment: Shipment, parcels: list[Parcel]) -> list[Rate]:
        form = quote_form(self.name, shipment, parcels)
        return parse_quote_response(
            self.name, await self.proxy.call("rate", "POST", "/api/quote", form)
        )

    async def book(
        self, shipment: Shipment, parcels: list[Parcel], rate: Rate, client_reference: str
    ) -> Booking:
        # FreightLine makes a second label for a repeated shipper_ref: look before booking.
        earlier = await self.find(client_reference, shipment.key)
        if earlier is not None:
            return earlier
        form = book_form(self.name, shipment, parcels, rate, client_reference)
        value = await self.proxy.call("book", "POST", "/api/book", form)
        return parse_book_response(self.name, shipment.key, value)

    async def find(self, client_reference: str, shipment_key: str) -> Booking | None:
        value = await self.proxy.call(
            "find", "GET", "/api/booking", params={"shipper_ref": client_reference}
        )
        return parse_lookup_response(self.name, shipment_key, value)

    async def void(self, booking: Booking) -> None:
        value = await self.proxy.call(
            "void", "POST", "/api/cancel", cancel_form(booking.booking_id)
        )
        parse_cancel_response(self.name, value)

    async def schedule_pickup(self, booking: Booking, ready_at: datetime) -> Pickup:
        value = await self.proxy.call(
            "pickup", "POST", "/api/pickup", pickup_form(booking, ready_at)
        )
        return parse_pickup_response(self.name, value)

    async def pickups(self, booking: Booking) -> list[Pickup]:
        params = {"booking_ref": booking.booking_id}
        value = await self.proxy.call("pickups", "GET", "/api/pickup", params=params)
        return parse_pickup_list(self.name, value)

    async def cancel_pickup(self, pickup: Pickup) -> None:
        form = {"confirmation": pickup.pickup_id}
        value = await self.proxy.call("cancel_pickup", "POST", "/api/pickup/cancel", form)
        parse_cancel_pickup_response(self.name, value)

    async def track(self, tracking_number: str) -> list[MilestoneEvent]:
        value = await self.proxy.call("track", "GET", "/api/trace", params={"pro": tracking_number})
        return parse_trace_response(self.name, value)

    async def aclose(self) -> None:
        return None
