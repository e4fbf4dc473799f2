"""The `carrier` endpoint kind: the dispatcher delivers compensations through it.

The `carrier` row of the hub's endpoint kinds (`intermodal.wiring.SINK_KINDS`).
Configuration (the same endpoint the rate shopper uses; `options` are validated by the
carrier's settings model):

    endpoints:
      parcelpro:
        kind: carrier
        url: https://api.parcelpro.example
        options: {carrier: parcelpro, api_key: env:PARCELPRO_API_KEY}
      freightline:
        kind: carrier
        url: https://gateway.freightline.example
        options: {carrier: freightline, username: acme, password: env:FREIGHTLINE_PASSWORD}
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from pydantic import ValidationError

from intermodal.config import Endpoint
from intermodal.connectors.carriers.compensation import VoidByReference
from intermodal.connectors.carriers.contract import (
    CarrierConnector,
    CarrierError,
    CarrierUnavailable,
)
from intermodal.connectors.carriers.registry import build_connector
from intermodal.outbox.sinks import ClaimedCommand, Result


class CarrierSink:
    def __init__(self, endpoint: Endpoint, client: httpx.AsyncClient) -> None:
        self.connector: CarrierConnector = build_connector(endpoint, client)

    async def deliver(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        return [await self._one(command) for command in commands]

    async def _one(self, command: ClaimedCommand) -> Result:
        try:
            void = VoidByReference.model_validate_json(command.payload)
        except ValidationError as exc:
            return Result(command.seq, False, f"not a carrier command: {exc}"[:500], False)
        try:
            booking = await self.connector.find(void.client_reference, void.shipment)
            if booking is not None:
                # Some carriers refuse to void a label with a pickup on it; cancel first.
                for pickup in await self.connector.pickups(booking):
                    await self.connector.cancel_pickup(pickup)
                await self.connector.void(booking)
        except CarrierUnavailable as exc:
            return Result(command.seq, False, str(exc)[:500], True)
        except CarrierError as exc:
            return Result(command.seq, False, str(exc)[:500], False)
        return Result(command.seq, True)

    async def aclose(self) -> None:
        await self.connector.aclose()
