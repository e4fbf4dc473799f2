"""A `(write_date, id)` cursor over an Odoo model: where a reader has read up to, and the pages
after it.

Shared by the change-capture poller (ingress/odoo_capture.py) and the master-data sync
(intermodal/sync/batch.py), one row per (partner, model) in `odoo_capture_cursors`.

Odoo stamps `write_date` with the transaction's `now()` (odoo/sql_db.py BaseCursor.now), to
the microsecond, in 17, 18 and 19 alike, but `read` gives it to the second
(fields.Datetime.to_string), while a domain compares the stored microseconds. So the
position a reader can know is a *second* and an id: "every record written before second W,
and those written in W with id <= I". The textbook keyset `write_date > W or (write_date =
W and id > I)` re-reads second W forever (its records are all `> 'W'`) and matches nothing
with `= W`. Pages therefore walk whole seconds: a page ordered by write_date keeps only the
seconds it holds completely, and a second too full for one page is read on its own, by id.

Odoo stamps the transaction's start time, so a transaction that commits after a later one
can appear *behind* the cursor; a pass may therefore start `overlap` seconds before it and
let idempotent consumers drop what they saw. The cursor only moves after a page has been
consumed, and the last record of every page is the position to save.
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
"""`(write_date, id)` of the last record read: its second (as Odoo reads it) and its id."""


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


def second_of(write_date: Any) -> str:
    """The second a write_date falls in, as `read` shows it (microseconds, if a server
    ever sends them, are dropped)."""
    return str(write_date)[:19]


def _next_second(second: str) -> str:
    return (datetime.strptime(second, ODOO_DATETIME) + timedelta(seconds=1)).strftime(ODOO_DATETIME)


def _within(second: str, after_id: int) -> list[Any]:
    """Records written during `second` with an id above `after_id`."""
    return [
        ["write_date", ">=", second],
        ["write_date", "<", _next_second(second)],
        ["id", ">", after_id],
    ]


def _from(second: str | None) -> list[Any]:
    """Records written at or after `second` (everything when None)."""
    return [["write_date", ">=", second]] if second is not None else []


def _start(cursor: Position | None, overlap_seconds: float) -> tuple[str | None, Position | None]:
    """Where a pass starts: a second to read everything from (with overlap, or from the
    beginning) or, resuming strictly, the position inside its second."""
    if cursor is None:
        return None, None
    if overlap_seconds <= 0:
        return None, (second_of(cursor[0]), int(cursor[1]))
    start = datetime.strptime(second_of(cursor[0]), ODOO_DATETIME) - timedelta(
        seconds=overlap_seconds
    )
    return start.strftime(ODOO_DATETIME), None


def domain_since(cursor: Position | None, overlap_seconds: float) -> list[Any]:
    """The Odoo domain of the records a pass starting at `cursor` reads (for counting them)."""
    since, inside = _start(cursor, overlap_seconds)
    if inside is None:
        return _from(since)
    second, record_id = inside
    return ["|", *_from(_next_second(second)), "&", "&", *_within(second, record_id)]


def _in_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page in position order, so that its last record is where the cursor goes."""
    return sorted(rows, key=lambda row: (second_of(row["write_date"]), int(row["id"])))


async def pages_after(
    client: OdooClient,
    model: str,
    fields: list[str],
    cursor: Position | None,
    overlap_seconds: float,
    page_size: int,
    context: dict[str, Any] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of records written since `cursor`, oldest second first, each ending at the
    position the caller saves once it has consumed the page; every record of the range
    comes exactly once, however many share a second.

    With `overlap_seconds` > 0 the pass restarts that long before the cursor (to catch late
    commits); with 0 it resumes strictly after the cursor, reading nothing twice.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    since, inside = _start(cursor, overlap_seconds)
    wanted = sorted(set(fields) | {"write_date"})
    extra: dict[str, Any] = {"context": context} if context else {}

    async def page(domain: list[Any], order: str) -> list[dict[str, Any]]:
        rows = await client.call(
            model,
            "search_read",
            domain=domain,
            fields=wanted,
            order=order,
            limit=page_size,
            **extra,
        )
        return list(rows or [])

    while True:
        if inside is not None:
            # One second, in id order: ids never tie, so this page boundary is exact.
            second, after_id = inside
            rows = await page(_within(second, after_id), "id asc")
            if rows:
                yield _in_order(rows)
            if len(rows) == page_size:
                inside = (second, int(rows[-1]["id"]))
                continue
            since, inside = _next_second(second), None
            continue
        rows = await page(_from(since), "write_date asc, id asc")
        if len(rows) < page_size:
            if rows:
                yield _in_order(rows)
            return
        # A full page holds every record of the seconds before its last one (they sort
        # before it), but maybe not all of that last second: keep the complete seconds and
        # read the last one on its own.
        last = second_of(rows[-1]["write_date"])
        complete = [row for row in rows if second_of(row["write_date"]) < last]
        if complete:
            yield _in_order(complete)
        inside = (last, 0)


def position_of(record: dict[str, Any]) -> Position:
    return (second_of(record["write_date"]), int(record["id"]))
