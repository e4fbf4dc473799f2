"""Compensations as outbox commands: "cancel the pickups of, then void, whatever this
reference booked at carrier X".

Written to the outbox rather than called inline because the carrier that lost a booking
answer is usually the one in trouble; the dispatcher retries the void with backoff and
its breaker until the carrier answers. The command id is stable per (carrier, reference),
so scheduling the same void twice writes one row.
"""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict

from intermodal.engine.ids import iso, stable_id, utcnow
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import Store

VOID_KIND = "carrier.void"


class VoidByReference(BaseModel):
    """Payload of a `carrier.void` command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["void_by_reference"] = "void_by_reference"
    shipment: str
    client_reference: str


def schedule_void(
    store: Store, endpoint: str, shipment_key: str, client_reference: str, correlation_id: str
) -> str:
    """Write the void command (once) and return its id."""
    command_id = stable_id("cmd", VOID_KIND, endpoint, client_reference)
    payload = VoidByReference(shipment=shipment_key, client_reference=client_reference)
    command = OutboundCommand(
        command_id, endpoint, VOID_KIND, shipment_key, orjson.dumps(payload.model_dump()),
        correlation_id[:64], iso(utcnow()),
    )  # fmt: skip
    with store.write() as conn:
        enqueue(conn, [command])
    return command_id
