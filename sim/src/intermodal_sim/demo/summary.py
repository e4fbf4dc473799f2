"""What the day did, read from where it ended up: the hub's store, Odoo and the partners."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.security.secrets import Secret
from intermodal.store import Store
from intermodal.store.tables import (
    cases,
    dead_letters,
    documents,
    events,
    inbox,
    outbox,
    shipments,
)
from intermodal.workflows.reconcile.run import run_reconciliation
from intermodal_sim.demo.assists import Assists, read_assists
from intermodal_sim.demo.day import Script, Tally
from intermodal_sim.demo.world import World


@dataclass
class Summary:
    orders: int
    shipments: int
    delivered: int
    events: dict[str, int]
    tenders: dict[str, int]
    invoices: int
    invoiced_total: float
    activities: tuple[int, int]
    """Odoo activities still open, and marked done (their "done" messages on the orders)."""
    cases_by_kind: dict[str, tuple[int, int]]
    dead_letters: int
    outbox_pending: int
    inbox_pending: int
    quarantined: int
    notifications: int
    bad_signatures: int
    customs: dict[str, int]
    script: Script
    assists: Assists

    def lines(self, tally: Tally) -> list[tuple[str, str]]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.events.items()))
        tenders = ", ".join(f"{k} {v}" for k, v in sorted(self.tenders.items()))
        filings = ", ".join(f"{k} {v}" for k, v in sorted(self.customs.items()))
        opened = sum(o for o, _ in self.cases_by_kind.values())
        closed = sum(c for _, c in self.cases_by_kind.values())
        kinds = ", ".join(f"{kind} {o}/{c}" for kind, (o, c) in sorted(self.cases_by_kind.items()))
        return [
            ("orders entered in Odoo", str(self.orders)),
            ("shipments in the hub", str(self.shipments)),
            ("tenders to the TMS", tenders or "none"),
            ("shipments delivered", str(self.delivered)),
            ("events by outcome", outcomes or "none"),
            ("proofs of delivery (resent)", f"{tally.pods} ({tally.duplicate_pods})"),
            ("invoices created in Odoo", f"{self.invoices} ({self.invoiced_total:,.2f} USD)"),
            ("exceptions opened / closed", f"{opened} / {closed}"),
            ("  by kind (opened/closed)", kinds or "none"),
            ("Odoo activities open / done", f"{self.activities[0]} / {self.activities[1]}"),
            ("customs filings by the hub", filings or "none"),
            (
                "TMS outage",
                f"{tally.outage_seconds:.0f} s, {tally.tms_refused_during_outage} calls refused",
            ),
            ("customer notifications", f"{self.notifications} ({self.bad_signatures} refused)"),
            ("dead letters", str(self.dead_letters)),
            ("quarantined messages", str(self.quarantined)),
            ("still pending (inbox / outbox)", f"{self.inbox_pending} / {self.outbox_pending}"),
            *self.assists.lines(self.script, tally),
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


def unread_documents(store: Store) -> int:
    with store.read() as conn:
        query = select(func.count()).select_from(documents).where(documents.c.status == "received")
        return int(conn.execute(query).scalar_one())


def drain(store: Store, timeout: float) -> None:
    """Wait until the hub has applied and delivered everything and read every document,
    or `timeout` passes."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if backlog(store) == (0, 0) and not unread_documents(store):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.0:  # quiet for a second: partners done too
                return
        else:
            quiet_since = None
        time.sleep(0.25)


def reconcile_the_day(world: World, store: Store) -> str:
    """One reconciliation at the end of the day, recorded like the hub's scheduled ones, so
    the control tower's reconciliation page shows how the day's books closed; a line
    saying what it found."""
    config = world.settings.reconcile
    if config is None:
        return "not configured"
    run = run_reconciliation(store, config)
    found = ", ".join(
        f"{name.replace('_', ' ')} {figures.get('count', 0)}"
        for name, figures in sorted(run.report.figures.items())
        if figures.get("count")
    )
    return f"{run.run_id} ({run.report.currency}): {found or 'nothing to report'}"


def summarise(world: World, store: Store, tally: Tally, script: Script) -> Summary:
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
        by_kind: dict[str, tuple[int, int]] = {}
        for row in conn.execute(
            select(cases.c.kind, cases.c.status, func.count().label("n")).group_by(
                cases.c.kind, cases.c.status
            )
        ):
            opened, closed = by_kind.get(row.kind, (0, 0))
            opened += int(row.n)
            closed += int(row.n) if row.status == "closed" else 0
            by_kind[row.kind] = (opened, closed)
        dead = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        quarantined = conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "rejected")
        ).scalar_one()
    pending_in, pending_out = backlog(store)
    tenders: dict[str, int] = {}
    with world.tms.script.lock:
        for load in world.tms.script.loads.values():
            decision = load.decision or "unanswered"
            tenders[decision] = tenders.get(decision, 0) + 1
    customs: dict[str, int] = {}
    with world.customs.script.lock:
        for filing in world.customs.script.filings.values():
            state = (
                "held, then released"
                if filing.hold and filing.status == "released"
                else filing.status
            )
            customs[state] = customs.get(state, 0) + 1
    invoices, total, activities = asyncio.run(_odoo_invoices(world))
    stats = world.portal.stats()
    return Summary(
        orders=tally.orders,
        shipments=int(n_shipments),
        delivered=int(delivered),
        events=outcomes,
        tenders=tenders,
        invoices=invoices,
        invoiced_total=total,
        activities=activities,
        cases_by_kind=by_kind,
        dead_letters=int(dead),
        outbox_pending=pending_out,
        inbox_pending=pending_in,
        quarantined=int(quarantined),
        notifications=int(stats["events"]),
        bad_signatures=int(stats["rejected_total"]),
        customs=customs,
        script=script,
        assists=read_assists(world, store),
    )


async def _odoo_invoices(world: World) -> tuple[int, float, tuple[int, int]]:
    """The customer invoices in Odoo and their total; the activities open and done."""
    async with httpx.AsyncClient(timeout=30) as http:
        odoo = world.odoo
        client = OdooClient(Connection(odoo.url, odoo.db, Secret(odoo.api_key)), http)
        rows = await client.call(
            "account.move",
            "search_read",
            domain=[["move_type", "=", "out_invoice"]],
            fields=["amount_total"],
        )
        still_open = await client.call("mail.activity", "search_count", domain=[])
        done = await client.call(
            "mail.message",
            "search_count",
            domain=[["model", "=", "sale.order"], ["mail_activity_type_id", "!=", False]],
        )
    total = float(sum(r.get("amount_total") or 0 for r in rows))
    return len(rows), total, (int(still_open), int(done))
