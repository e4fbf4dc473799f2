"""The SQLite database and its -wal and -shm hold raw payloads and personal data: on a real
file they are readable by their owner only, whatever the umask, and a database an older
version left world-readable is narrowed when the hub opens it."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.store import open_store
from intermodal.store.tables import inbox


@contextmanager
def umask(value: int) -> Iterator[None]:
    before = os.umask(value)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


@pytest.mark.parametrize("mask", [0o022, 0o000])
def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path, mask: int) -> None:
    db = tmp_path / "var" / "hub.db"
    with umask(mask):
        store = open_store(f"sqlite:///{db}")
        try:
            with store.read() as conn:  # WAL and SHM exist while a connection is open
                conn.execute(select(func.count()).select_from(inbox)).scalar_one()
            files = database_files(db)
            assert all(path.exists() for path in files)
            assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
            lock = store.lock_file("writer")
            with store.write():
                pass
            assert lock is not None and mode(lock) == 0o600
        finally:
            store.dispose()


def test_a_world_readable_database_is_narrowed_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with umask(0o022):
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE kept (x)")
        conn.execute("INSERT INTO kept VALUES (1)")
        conn.commit()
        assert mode(db) == 0o644  # what SQLite itself does, as the old hub did
        wal_and_shm = database_files(db)[1:]
        assert all(mode(path) == 0o644 for path in wal_and_shm)  # held open by `conn`
        store = open_store(f"sqlite:///{db}")
        try:
            assert [mode(path) for path in database_files(db)] == [0o600, 0o600, 0o600]
            with store.read() as read:
                assert read.exec_driver_sql("SELECT x FROM kept").scalar_one() == 1
        finally:
            store.dispose()
            conn.close()


def test_a_reconciliation_export_is_owner_only_even_over_a_wider_file(tmp_path: Path) -> None:
    """The export names shipments, customers and amounts: a file the CLI writes, not the
    shell, so the umask does not decide who reads it."""
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    fresh, old = tmp_path / "new.json", tmp_path / "old.csv"
    with umask(0o022):
        old.write_text("an earlier report\n")
        assert mode(old) == 0o644
        for out, kind in ((fresh, "json"), (old, "csv")):
            result = CliRunner().invoke(
                app, ["reconcile", "--db", db, "--format", kind, "--out", str(out)]
            )
            assert result.exit_code == 0, result.output
    assert mode(fresh) == 0o600 and json.loads(fresh.read_text())["figures"]
    assert mode(old) == 0o600 and old.read_text().startswith("category,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
