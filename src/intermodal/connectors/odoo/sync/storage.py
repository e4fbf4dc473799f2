"""Writes of synced Odoo records: upserts keyed by the Odoo id, so a re-read page is harmless.

A page read again after a crash (the cursor moves only after its page is stored) overwrites
its rows with the same values: the sync never duplicates a record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from intermodal.store.tables import currency_rates, master_data


def _upsert(
    conn: Connection, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)


def store_master_data(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of `master_data` (kind, odoo_id, key, data, write_date, synced_at)."""
    _upsert(conn, master_data, ("kind", "odoo_id"), rows)


def store_rates(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of `currency_rates` (odoo_id, currency, company_id, day, rate, write_date,
    synced_at)."""
    _upsert(conn, currency_rates, ("odoo_id",), rows)


def find_master_data(conn: Connection, kind: str, key: str) -> dict[str, Any] | None:
    """A synced record by its business key (e.g. `partner`, `AZ-001`), with its Odoo id; the
    lowest id wins when Odoo holds two records with the same key."""
    row = conn.execute(
        select(master_data.c.odoo_id, master_data.c.data)
        .where(master_data.c.kind == kind, master_data.c.key == key)
        .order_by(master_data.c.odoo_id)
        .limit(1)
    ).first()
    if row is None:
        return None
    data: dict[str, Any] = orjson.loads(row.data)
    return {**data, "odoo_id": int(row.odoo_id)}
