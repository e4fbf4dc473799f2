"""Commands as the outbox holds them, and a sink pointed at a running Odoo test server."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from intermodal.config import Endpoint
from intermodal.outbox.sinks import ClaimedCommand
from intermodal_sim.odoo.testing import RunningSim

_SEQ = itertools.count(1)


def command(
    type_: str,
    subject: str,
    data: dict[str, Any],
    command_id: str | None = None,
    maybe_sent: bool = False,
    **extra: Any,
) -> ClaimedCommand:
    seq = next(_SEQ)
    command_id = command_id or f"cmd_{seq:06d}"
    payload = {
        "specversion": "1.0",
        "id": command_id,
        "source": "intermodal",
        "type": type_,
        "subject": subject,
        "time": "2026-11-23T10:00:00Z",
        "data": data,
        **extra,
    }
    return ClaimedCommand(
        seq, command_id, "odoo", "odoo", subject, orjson.dumps(payload), "corr_test", 0, maybe_sent
    )


def replayed(c: ClaimedCommand) -> ClaimedCommand:
    """The same command delivered again (after a crash, a retry or a dead-letter replay)."""
    return ClaimedCommand(
        next(_SEQ), c.command_id, c.endpoint, c.kind, c.subject, c.payload, c.correlation_id,
        c.attempts + 1, True,
    )  # fmt: skip


def endpoint(sim: RunningSim, protocol: str, **options: Any) -> Endpoint:
    return Endpoint(
        name="odoo",
        kind="odoo",
        url=sim.url,
        secret_key=None,
        milestones=None,
        max_attempts=10,
        rate_per_second=1000.0,
        timeout_seconds=30.0,
        batch_size=500,
        options={
            "database": sim.db,
            "api_key": "env:ODOO_TEST_API_KEY",
            "protocol": protocol,
            "login": "admin",
            "linger_ms": 0,
            **options,
        },
    )


CUSTOMER = {
    "role": "customer",
    "name": "Acme Logistics",
    "reference": "ACME-1",
    "email": "ops@acme.example",
    "address": {"street": "1 Dock St", "city": "Boston", "postal_code": "02110", "country": "US"},
}


def order(subject: str, customer: dict[str, Any] | None = None, **extra: Any) -> ClaimedCommand:
    return command(
        "intermodal.odoo.order.upsert",
        subject,
        {
            "customer": customer or CUSTOMER,
            "lines": [
                {"product": "FCL40", "quantity": 2, "price_unit": "1500"},
                {"product": "CRATE", "quantity": 5},  # goods: the order gets a delivery
            ],
            **extra,
        },
    )


def milestone(
    subject: str, name: str, at: str = "2026-11-23T10:00:00Z", **data: Any
) -> ClaimedCommand:
    return command(
        "intermodal.shipment.milestone",
        subject,
        {"milestone": name, "occurred_at": at, **data},
        assertedby="carrier-x",
    )
