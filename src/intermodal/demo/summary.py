"""What the day did, read from where it ended up: the hub's store and Odoo itself."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.demo.day import Tally
from intermodal.demo.world import World
from intermodal.security.secrets import Secret
from intermodal.store import Store
from intermodal.store.tables import cases, dead_letters, events, inbox, outbox, shipments


@dataclass
class Summary:
    orders: int
    shipments: int
    delivered: int
    events: dict[str, int]
    invoices: int
    exceptions_opened: int
    exceptions_closed: int
    dead_letters: int
    outbox_pending: int
    inbox_pending: int
    quarantined: int
    portal_notifications: int

    def lines(self, tally: Tally) -> list[tuple[str, str]]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.events.items()))
        return [
            ("orders entered in Odoo", str(self.orders)),
            ("shipments in the hub", str(self.shipments)),
            ("shipments delivered", str(self.delivered)),
            ("partner messages sent", str(tally.messages)),
            ("events by outcome", outcomes or "none"),
            ("invoices created in Odoo", str(self.invoices)),
            ("exceptions opened / closed", f"{self.exceptions_opened} / {self.exceptions_closed}"),
            ("customer notifications delivered", str(self.portal_notifications)),
            ("dead letters", str(self.dead_letters)),
            ("quarantined messages", str(self.quarantined)),
            ("still pending (inbox / outbox)", f"{self.inbox_pending} / {self.outbox_pending}"),
        ]


def backlog(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        pending_in = conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
        ).scalar_one()
        pending_out = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        ).scalar_one()
    return int(pending_in), int(pending_out)


def drain(store: Store, timeout: float) -> None:
    """Wait until the hub has applied and delivered everything, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and backlog(store) != (0, 0):
        time.sleep(0.25)


def summarise(world: World, store: Store, tally: Tally) -> Summary:
    with store.read() as conn:
        n_shipments = conn.execute(select(func.count()).select_from(shipments)).scalar_one()
        delivered = conn.execute(
            select(func.count()).select_from(shipments).where(shipments.c.state == "delivered")
        ).scalar_one()
        outcomes = {
            row.outcome: int(row.n)
            for row in conn.execute(
                select(events.c.outcome, func.count().label("n")).group_by(events.c.outcome)
            )
        }
        opened = conn.execute(select(func.count()).select_from(cases)).scalar_one()
        closed = conn.execute(
            select(func.count()).select_from(cases).where(cases.c.status == "closed")
        ).scalar_one()
        dead = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        quarantined = conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "rejected")
        ).scalar_one()
    pending_in, pending_out = backlog(store)
    return Summary(
        orders=tally.orders,
        shipments=int(n_shipments),
        delivered=int(delivered),
        events=outcomes,
        invoices=asyncio.run(_odoo_invoices(world)),
        exceptions_opened=int(opened),
        exceptions_closed=int(closed),
        dead_letters=int(dead),
        outbox_pending=pending_out,
        inbox_pending=pending_in,
        quarantined=int(quarantined),
        portal_notifications=len(world.portal.applied),
    )


async def _odoo_invoices(world: World) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        odoo = world.odoo
        client = OdooClient(Connection(odoo.url, odoo.db, Secret(odoo.api_key)), http)
        count = await client.call(
            "account.move", "search_count", domain=[["move_type", "=", "out_invoice"]]
        )
    return int(count)
