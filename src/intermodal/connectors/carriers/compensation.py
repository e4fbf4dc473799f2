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
from intermodal.store import Store
from intermodal.store.tables import outbox

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
    now = iso(utcnow())
    with store.write() as conn:
        conn.execute(
            store.insert_ignoring(outbox, ["command_id"]),
            {
                "command_id": command_id,
                "endpoint": endpoint,
                "kind": VOID_KIND,
                "subject": shipment_key,
                "payload": orjson.dumps(payload.model_dump()),
                "correlation_id": correlation_id[:64],
                "next_attempt_at": now,
                "created_at": now,
            },
        )
    return command_id
