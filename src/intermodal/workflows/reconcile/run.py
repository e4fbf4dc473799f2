"""One reconciliation run: load the facts, decide, and record the run for the control tower.

The run row is written first (`running`) and completed at the end (`done` with figures and
report, or `failed` with the error), so an operator sees a run that died half-way instead of
nothing. Reading happens on the read engine: a run never holds the writer lock while it
scans, and the hot path keeps flowing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, select, text

from intermodal.canonical.model import Charge
from intermodal.connectors.odoo.sync.rates import company_currency, convert, default_company
from intermodal.engine.ids import iso, parse_iso, sortable_id, utcnow
from intermodal.errors import Conflict
from intermodal.outbox.kinds import INVOICE_COMMAND
from intermodal.store import Store
from intermodal.store.store import rows_in
from intermodal.store.tables import dead_letters, events, outbox, reconciliation_runs, shipments
from intermodal.workflows.billing import delivered_not_invoiced
from intermodal.workflows.reconcile.checks import ChargeFact, Report, ShipmentFacts, reconcile
from intermodal.workflows.reconcile.settings import ReconcileConfig

log = logging.getLogger(__name__)

CHARGE_EVENT = "intermodal.charge.recorded"
ABANDONED_AFTER = timedelta(hours=1)
_PG_START_LOCK = 7_201_514  # advisory lock id: nodes deciding whether a run is due
"""A run still `running` after this long is marked `abandoned` by the next run."""
_STEPS = ("invoices", "shipments", "charges", "decide", "record")

Progress = Callable[[str], None]
"""Told as each step of a run starts (`_STEPS`), for a progress bar."""


@dataclass(frozen=True)
class Run:
    run_id: str
    started_at: str
    finished_at: str
    report: Report


def steps() -> tuple[str, ...]:
    return _STEPS


def _invoice_status(conn: Connection) -> dict[str, str]:
    """Each shipment's invoice command: its outbox status, or `dead_letter`."""
    status: dict[str, str] = {}
    for row in conn.execute(
        select(dead_letters.c.subject).where(dead_letters.c.kind == INVOICE_COMMAND)
    ):
        if row.subject:
            status[row.subject] = "dead_letter"
    rank = {"delivered": 2, "pending": 1}
    for row in conn.execute(
        select(outbox.c.subject, outbox.c.status).where(outbox.c.kind == INVOICE_COMMAND)
    ):
        if not row.subject:
            continue
        seen = status.get(row.subject)
        if seen is None or rank.get(row.status, 0) >= rank.get(seen, 0):
            status[row.subject] = row.status
    return status


def _facts(row: Any, invoices: dict[str, str], not_invoiced: set[str]) -> ShipmentFacts:
    try:
        document = orjson.loads(row.document or "{}")
    except orjson.JSONDecodeError:
        document = {}
    delivered = row.main_at if row.main_milestone == "delivered" else None
    return ShipmentFacts(
        key=row.key,
        state=row.state,
        delivered_at=parse_iso(delivered) if delivered else None,
        document=document if isinstance(document, dict) else {},
        invoice_status=invoices.get(row.key),
        not_invoiced=row.key in not_invoiced,
    )


def _shipments(conn: Connection, invoices: dict[str, str]) -> Iterator[ShipmentFacts]:
    """Delivered shipments and shipments with an invoice command (nothing else can match)."""
    columns = select(
        shipments.c.key,
        shipments.c.state,
        shipments.c.main_milestone,
        shipments.c.main_at,
        shipments.c.document,
    )
    not_invoiced = set(conn.execute(delivered_not_invoiced(shipments.c.key)).scalars())
    seen: set[str] = set()
    for row in conn.execute(columns.where(shipments.c.main_milestone == "delivered")):
        seen.add(row.key)
        yield _facts(row, invoices, not_invoiced)
    others = sorted(set(invoices) - seen)
    for row in rows_in(conn, columns, shipments.c.key, others):
        yield _facts(row, invoices, not_invoiced)


def _charges(conn: Connection) -> Iterator[ChargeFact]:
    """Every charge event kept as asserted (late ones too: a quote that arrived after the
    invoice is still the quote), except duplicates and ownership violations."""
    query = select(events.c.subject, events.c.partner, events.c.time, events.c.data).where(
        events.c.type == CHARGE_EVENT, events.c.outcome.in_(("applied", "late"))
    )
    for row in conn.execute(query):
        try:
            item = orjson.loads(row.data)
            charge = Charge.model_validate(item.get("data") if isinstance(item, dict) else None)
        except (orjson.JSONDecodeError, ValueError):
            continue  # validated at ingress; a row edited by hand is not worth a failed run
        yield ChargeFact(
            subject=row.subject,
            partner=row.partner,
            at=parse_iso(row.time),
            code=charge.code,
            status=charge.status.value,
            amount=charge.amount.amount,
            currency=charge.amount.currency,
        )


def report_currency(conn: Connection, config: ReconcileConfig) -> str:
    """The configured currency, else Odoo's company currency (synced), else EUR."""
    return config.currency or company_currency(conn, default_company(conn)) or "EUR"


def run_reconciliation(
    store: Store,
    config: ReconcileConfig,
    now: datetime | None = None,
    progress: Progress | None = None,
    may_start: Callable[[Connection], bool] | None = None,
) -> Run:
    """Reconcile everything in the store as of `now`, and record the run. `may_start`,
    asked in the transaction that records the run's start, can refuse it (`Skipped`)."""
    now = now or utcnow()
    run_id = sortable_id("recon")
    started = iso(utcnow())
    tell = progress or (lambda _step: None)
    with store.write() as conn:
        if may_start is not None and not may_start(conn):
            raise Skipped()
        # A run still `running` long after it started died with its process: say so.
        conn.execute(
            reconciliation_runs.update()
            .where(
                reconciliation_runs.c.status == "running",
                reconciliation_runs.c.started_at < iso(utcnow() - ABANDONED_AFTER),
            )
            .values(status="abandoned", report=_error(RuntimeError("the run never finished")))
        )
        conn.execute(
            reconciliation_runs.insert().values(run_id=run_id, started_at=started, status="running")
        )
    try:
        with store.read() as conn:
            tell("invoices")
            invoices = _invoice_status(conn)
            tell("shipments")
            facts = list(_shipments(conn, invoices))
            tell("charges")
            charges = list(_charges(conn))
            tell("decide")
            currency = report_currency(conn, config)

            def converter(amount: Decimal, a: str, b: str, on: date) -> Decimal | None:
                return convert(conn, amount, a, b, on)

            report = reconcile(facts, charges, config, now, currency, converter)
    except Exception as exc:
        with store.write() as conn:
            conn.execute(
                reconciliation_runs.update()
                .where(reconciliation_runs.c.run_id == run_id)
                .values(status="failed", finished_at=iso(utcnow()), report=_error(exc))
            )
        raise
    tell("record")
    finished = iso(utcnow())
    with store.write() as conn:
        conn.execute(
            reconciliation_runs.update()
            .where(reconciliation_runs.c.run_id == run_id)
            .values(
                status="done",
                finished_at=finished,
                figures=orjson.dumps(report.figures).decode(),
                report=orjson.dumps(report.rows).decode(),
            )
        )
    return Run(run_id, started, finished, report)


def _error(exc: Exception) -> str:
    return orjson.dumps({"error": f"{type(exc).__name__}: {exc}"}).decode()


class Skipped(Conflict):
    """The run did not start: `may_start` said no (another node ran one, or this node no
    longer leads)."""


def _last_started(store: Store) -> str | None:
    with store.read() as conn:
        return conn.execute(
            select(reconciliation_runs.c.started_at)
            .order_by(reconciliation_runs.c.started_at.desc())
            .limit(1)
        ).scalar()


async def run_forever(
    store: Store, config: ReconcileConfig, leads: Callable[[Connection], bool] | None = None
) -> None:
    """The hub's scheduled reconciliation: a run every `interval_seconds`, counted from
    the last run any node started, so a new leader neither repeats the run its
    predecessor just made nor starts the clock again; with no run yet, the first comes
    after one interval (a restart does not trigger one). `leads` (the leader lease's
    fencing check) is asked in the transaction that starts a run, with the same rule: a
    node paused past its lease, or a second node, starts nothing."""
    every = timedelta(seconds=config.interval_seconds)

    def due(conn: Connection) -> bool:
        if leads is not None and not leads(conn):
            return False
        if conn.dialect.name == "postgresql":  # two deciders: one after the other
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_START_LOCK})
        last = conn.execute(
            select(reconciliation_runs.c.started_at)
            .order_by(reconciliation_runs.c.started_at.desc())
            .limit(1)
        ).scalar()
        return last is None or parse_iso(last) + every * 0.99 <= utcnow()

    first = await asyncio.to_thread(_last_started, store)
    wait = every if first is None else max(parse_iso(first) + every - utcnow(), timedelta(0))
    while True:
        await asyncio.sleep(wait.total_seconds())
        try:
            run = await asyncio.to_thread(run_reconciliation, store, config, None, None, due)
            log.info("reconciliation %s: %s", run.run_id, run.report.figures)
        except Skipped:
            log.info("reconciliation: not due here (another node ran it, or leads)")
        except Exception:
            log.exception("reconciliation failed; next run in %ss", config.interval_seconds)
        last = await asyncio.to_thread(_last_started, store)
        wait = every if last is None else max(parse_iso(last) + every - utcnow(), timedelta(0))
        wait = max(wait, timedelta(seconds=1))
