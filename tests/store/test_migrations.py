"""Migrations and tables agree: a database migrated to head has exactly the tables' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from intermodal.store import open_store
from intermodal.store.tables import metadata


def test_migrated_schema_matches_the_tables(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            diff = compare_metadata(context, metadata)
        assert diff == [], f"tables.py and the alembic migrations differ: {diff}"
        store.migrate()  # idempotent: a second run changes nothing
    finally:
        store.dispose()
