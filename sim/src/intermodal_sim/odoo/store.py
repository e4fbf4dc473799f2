"""SQLite storage laid out the way Odoo lays out PostgreSQL.

One table per model named after it (`res_partner`), one column per stored field, many2many
relation tables, foreign keys with Odoo's `ondelete` actions and NOT NULL on required
columns, so that the database, not Python, rejects what PostgreSQL would reject in Odoo.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from intermodal_sim.odoo.schema import Field, Model

SQL_TYPES = {
    "char": "TEXT",
    "text": "TEXT",
    "html": "TEXT",
    "selection": "TEXT",
    "date": "TEXT",
    "datetime": "TEXT",
    "integer": "INTEGER",
    "many2one": "INTEGER",
    "many2one_reference": "INTEGER",
    "float": "REAL",
    "monetary": "REAL",
    "boolean": "INTEGER",
    # fields.Binary: the base64 text Odoo keeps in ir.attachment; fields.Reference: 'model,id'.
    "binary": "TEXT",
    "reference": "TEXT",
}
ON_DELETE = {"set null": "SET NULL", "cascade": "CASCADE", "restrict": "RESTRICT"}


def _unicode_lower(value: str | int | float | bytes | None) -> str | int | float | bytes | None:
    """SQLite's lower() folds ASCII only; PostgreSQL's folds every script, and so must ilike."""
    return value.lower() if isinstance(value, str) else value


class Database:
    """A connection plus the DDL for one registry; every statement runs under one lock."""

    def __init__(self, registry: dict[str, Model], path: str | None = None) -> None:
        self.registry = registry
        self.conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self.conn.execute("PRAGMA foreign_keys = ON")
        # PostgreSQL's LIKE is case-sensitive; ilike is spelled lower(x) LIKE lower(y).
        self.conn.execute("PRAGMA case_sensitive_like = ON")
        if path:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.create_function("py_lower", 1, _unicode_lower, deterministic=True)
        self.lock = threading.RLock()
        self.in_transaction = False

    def has_schema(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'res_partner'"
        ).fetchone()
        return row is not None

    def create_schema(self) -> None:
        statements: list[str] = []
        relations: dict[str, tuple[Model, Field]] = {}
        for model in self.registry.values():
            columns = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
            for fld in model.fields.values():
                if fld.name == "id" or not fld.column:
                    continue
                col = f'"{fld.name}" {SQL_TYPES[fld.type]}'
                if fld.required:
                    col += " NOT NULL"
                if fld.type == "many2one" and fld.relation:
                    target = self.registry[fld.relation].table
                    col += f" REFERENCES {target}(id) ON DELETE {ON_DELETE[fld.ondelete]}"
                columns.append(col)
            # _sql_constraints / models.Constraint: named `<table>_<name>` as Odoo names them.
            columns += [
                f"CONSTRAINT {model.table}_{c.name} {c.definition}" for c in model.constraints
            ]
            statements.append(f"CREATE TABLE {model.table} ({', '.join(columns)})")
            for fld in model.fields.values():
                if fld.type == "many2one" and fld.column:
                    statements.append(
                        f"CREATE INDEX {model.table}_{fld.name}_index "
                        f'ON {model.table}("{fld.name}")'
                    )
                if fld.type == "many2many" and fld.relation_table:
                    relations.setdefault(fld.relation_table, (model, fld))
        for table, (model, fld) in relations.items():
            assert fld.relation and fld.column1 and fld.column2
            target = self.registry[fld.relation].table
            statements.append(
                f"CREATE TABLE {table} ("
                f"{fld.column1} INTEGER NOT NULL REFERENCES {model.table}(id) ON DELETE CASCADE, "
                f"{fld.column2} INTEGER NOT NULL REFERENCES {target}(id) ON DELETE CASCADE, "
                f"PRIMARY KEY ({fld.column1}, {fld.column2}))"
            )
            statements.append(f"CREATE INDEX {table}_{fld.column2}_index ON {table}({fld.column2})")
        # What Odoo keeps outside the ORM's reach: hashed secrets and sequences.
        statements += [
            "CREATE TABLE sim_user_password (uid INTEGER PRIMARY KEY "
            "REFERENCES res_users(id) ON DELETE CASCADE, password TEXT NOT NULL)",
            "CREATE TABLE sim_user_apikey (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "uid INTEGER NOT NULL REFERENCES res_users(id) ON DELETE CASCADE, "
            "name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, scope TEXT)",
            "CREATE TABLE sim_sequence (code TEXT PRIMARY KEY, next INTEGER NOT NULL)",
            # The filestore: ir.attachment contents by store_fname (`<2 hex>/<sha1>`).
            "CREATE TABLE sim_filestore (fname TEXT PRIMARY KEY, data BLOB NOT NULL)",
        ]
        with self.lock:
            for statement in statements:
                self.conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction per call, as Odoo's `retrying` commits or rolls back each call."""
        with self.lock:
            self.conn.execute("BEGIN")
            self.in_transaction = True
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self.in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def next_sequence(self, code: str) -> int:
        row = self.execute("SELECT next FROM sim_sequence WHERE code = ?", (code,)).fetchone()
        value = int(row[0]) if row else 1
        self.execute(
            "INSERT INTO sim_sequence (code, next) VALUES (?, ?) "
            "ON CONFLICT(code) DO UPDATE SET next = excluded.next",
            (code, value + 1),
        )
        return value

    def close(self) -> None:
        with self.lock:
            self.conn.close()
