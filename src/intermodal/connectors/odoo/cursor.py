"""A `(write_date, id)` cursor over an Odoo model: where a reader has read up to, and the pages
after it.

Shared by the change-capture poller (ingress/odoo_capture.py) and the master-data sync
(intermodal/sync/batch.py), one row per (partner, model) in `odoo_capture_cursors`.

Odoo stamps `write_date` with the transaction's start time, so a transaction that commits
after a later one can appear *behind* the cursor; a pass may therefore start `overlap`
seconds before it and let idempotent consumers drop what they saw. Inside one pass, pages
follow the `(write_date, id)` order, so records written in the same second are never
skipped at a page boundary, and the cursor only moves after a page has been consumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from intermodal.connectors.odoo.client import OdooClient
from intermodal.engine.ids import iso, utcnow
from intermodal.store import Store
from intermodal.store.tables import odoo_capture_cursors

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"

Position = tuple[str, int]
"""`(write_date, id)` of the last record read."""


class WriteDateCursor:
    """The stored position of one reader of one model."""

    def __init__(self, store: Store, partner: str, model: str) -> None:
        self.store = store
        self.partner = partner
        self.model = model

    def load(self) -> Position | None:
        table = odoo_capture_cursors
        with self.store.read() as conn:
            row = conn.execute(
                select(table.c.write_date, table.c.record_id).where(
                    table.c.partner == self.partner, table.c.model == self.model
                )
            ).first()
        return (str(row.write_date), int(row.record_id)) if row else None

    def save(self, position: Position) -> None:
        with self.store.write() as conn:
            self.save_in(conn, position)

    def save_in(self, conn: Connection, position: Position) -> None:
        """Move the cursor inside the caller's transaction, so that what was read up to it
        and the cursor itself commit together (a crash keeps both or neither)."""
        table = odoo_capture_cursors
        values = {"write_date": position[0], "record_id": position[1], "updated_at": iso(utcnow())}
        updated = conn.execute(
            table.update()
            .where(table.c.partner == self.partner, table.c.model == self.model)
            .values(values)
        ).rowcount
        if not updated:
            conn.execute(table.insert().values(partner=self.partner, model=self.model, **values))

    def reset(self) -> None:
        """Forget the position: the next pass reads the model from its first record."""
        table = odoo_capture_cursors
        with self.store.write() as conn:
            conn.execute(
                table.delete().where(table.c.partner == self.partner, table.c.model == self.model)
            )


def _start(cursor: Position | None, overlap_seconds: float) -> tuple[list[Any], Position | None]:
    """Where a pass starts: a `write_date >=` bound (with overlap) or a strict position."""
    if cursor is None:
        return [], None
    if overlap_seconds <= 0:
        return [], cursor
    start = datetime.strptime(cursor[0][:19], ODOO_DATETIME) - timedelta(seconds=overlap_seconds)
    return [["write_date", ">=", start.strftime(ODOO_DATETIME)]], None


def domain_since(cursor: Position | None, overlap_seconds: float) -> list[Any]:
    """The Odoo domain of the records a pass starting at `cursor` reads (for counting them)."""
    since, after = _start(cursor, overlap_seconds)
    return since + (_after(after) if after is not None else [])


def _after(position: Position) -> list[Any]:
    """The Odoo domain of records strictly after `position` in (write_date, id) order."""
    write_date, record_id = position
    return [
        "|",
        ["write_date", ">", write_date],
        "&",
        ["write_date", "=", write_date],
        ["id", ">", record_id],
    ]


async def pages_after(
    client: OdooClient,
    model: str,
    fields: list[str],
    cursor: Position | None,
    overlap_seconds: float,
    page_size: int,
    context: dict[str, Any] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of records written since `cursor`, oldest first, each ending at the position the
    caller saves once it has consumed the page.

    With `overlap_seconds` > 0 the pass restarts that long before the cursor (to catch late
    commits); with 0 it resumes strictly after the cursor, reading nothing twice.
    """
    since, after = _start(cursor, overlap_seconds)
    wanted = sorted(set(fields) | {"write_date"})
    extra: dict[str, Any] = {"context": context} if context else {}
    while True:
        domain = since + (_after(after) if after is not None else [])
        rows = await client.call(
            model,
            "search_read",
            domain=domain,
            fields=wanted,
            order="write_date asc, id asc",
            limit=page_size,
            **extra,
        )
        if not rows:
            return
        yield rows
        last = rows[-1]
        after = (str(last["write_date"]), int(last["id"]))
        if len(rows) < page_size:
            return


def position_of(record: dict[str, Any]) -> Position:
    return (str(record["write_date"]), int(record["id"]))
