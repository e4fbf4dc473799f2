"""The store: one small interface over SQLite (embedded default) and PostgreSQL.

`Store` owns the engines and the dialect differences (conflict-ignoring inserts, row
locking, how a write transaction begins); everything above it speaks SQLAlchemy Core
against `tables`. Migrations are alembic scripts under `migrations/`, run at start; their
chain skips 0006 on purpose (migrations/README.md says why).
"""

from intermodal.store.store import Store, open_store

__all__ = ["Store", "open_store"]
