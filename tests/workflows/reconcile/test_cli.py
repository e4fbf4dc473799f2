"""`intermodal reconcile` and the hub's scheduled run: reports on stdout or in a file, a run
row per run, and a clear error (never a traceback) for a bad configuration or database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import load_config
from intermodal.engine.ids import iso
from intermodal.store import open_store
from intermodal.store.tables import reconciliation_runs, shipments
from intermodal_sim.testing import running_hub, wait_until

runner = CliRunner()


def _seed_delivered(url: str) -> None:
    """One shipment delivered two days ago with a 120 EUR charge and no invoice."""
    at = iso(datetime.now(UTC) - timedelta(days=2))
    document = {"charges": {"FRT": {"at": at, "data": {"code": "FRT", "kind": "freight",
                "status": "final", "amount": {"amount": "120", "currency": "EUR"}}}}}  # fmt: skip
    store = open_store(url)
    try:
        with store.write() as conn:
            conn.execute(
                shipments.insert().values(
                    key="SHP-CLI",
                    state="delivered",
                    state_at=at,
                    main_milestone="delivered",
                    main_at=at,
                    document=orjson.dumps(document).decode(),
                    created_at=at,
                    updated_at=at,
                )
            )
    finally:
        store.dispose()


def _runs(url: str) -> int:
    store = open_store(url, migrate=False)
    try:
        with store.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(reconciliation_runs)).scalar_one()
            )
    finally:
        store.dispose()


def test_json_on_stdout_and_csv_in_a_file(sqlite_url: str, tmp_path: Path) -> None:
    _seed_delivered(sqlite_url)
    result = runner.invoke(app, ["reconcile", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.stdout)
    assert body["figures"]["delivered_not_invoiced"] == {
        "count": 1, "value": "120.00", "currency": "EUR", "unconverted": 0,
    }  # fmt: skip
    assert body["rows"]["delivered_not_invoiced"][0]["shipment"] == "SHP-CLI"
    assert "delivered_not_invoiced" in result.stderr  # the figures table

    out = tmp_path / "findings.csv"
    result = runner.invoke(
        app, ["reconcile", "--db", sqlite_url, "--format", "csv", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["category"], r["shipment"], r["amount"]) for r in rows] == [
        ("delivered_not_invoiced", "SHP-CLI", "120.00")
    ]
    assert _runs(sqlite_url) == 2


def test_settings_come_from_the_reconcile_section(sqlite_url: str, tmp_path: Path) -> None:
    _seed_delivered(sqlite_url)
    path = tmp_path / "hub.yaml"
    config = {"hub": {"database": sqlite_url}, "reconcile": {"grace_hours": 72, "currency": "EUR"}}
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["reconcile", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["figures"]["delivered_not_invoiced"]["count"] == 0


def test_bad_config_database_or_format_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"reconcile": {"tolerance_percent": -1, "surprise": 1}}))
    result = runner.invoke(app, ["reconcile", "--config", str(bad)])
    assert result.exit_code == 2
    assert "reconcile.tolerance_percent" in result.stderr and "reconcile.surprise" in result.stderr
    assert "Traceback" not in result.output

    result = runner.invoke(app, ["reconcile", "--db", "mysql://u:hunter2@db/x"])
    assert result.exit_code == 2
    assert "cannot open the database" in result.stderr and "hunter2" not in result.stderr

    result = runner.invoke(app, ["reconcile", "--db", "postgresql://u:hunter2@127.0.0.1:1/nowhere"])
    assert result.exit_code == 2 and "hunter2" not in result.stderr
    assert "cannot open the database postgresql://u:***@127.0.0.1:1/nowhere" in result.stderr

    result = runner.invoke(app, ["reconcile", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                                 "--format", "xml"])  # fmt: skip
    assert result.exit_code == 2

    nowhere = str(tmp_path / "missing" / "dir" / "r.json")
    result = runner.invoke(
        app, ["reconcile", "--db", f"sqlite:///{tmp_path / 'y.db'}", "--out", nowhere]
    )
    assert result.exit_code == 2 and "cannot write" in result.stderr


def test_the_hub_reconciles_on_its_schedule(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"hub": {"database": db_url},
                                    "reconcile": {"interval_seconds": 0.2}}))  # fmt: skip
    with running_hub(load_config(path), dispatch=False):
        wait_until(lambda: _runs(db_url) >= 2, timeout=15)
    store = open_store(db_url, migrate=False)
    try:
        with store.read() as conn:
            statuses = set(conn.execute(select(reconciliation_runs.c.status)).scalars())
    finally:
        store.dispose()
    assert statuses <= {"done", "running"} and "done" in statuses


def test_a_run_that_never_finished_is_marked_abandoned(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    old = iso(datetime.now(UTC) - timedelta(hours=3))
    recent = iso(datetime.now(UTC) - timedelta(minutes=5))
    try:
        with store.write() as conn:
            conn.execute(reconciliation_runs.insert().values(run_id="r-old", started_at=old))
            conn.execute(reconciliation_runs.insert().values(run_id="r-now", started_at=recent))
    finally:
        store.dispose()
    assert runner.invoke(app, ["reconcile", "--db", sqlite_url]).exit_code == 0
    store = open_store(sqlite_url, migrate=False)
    try:
        with store.read() as conn:
            rows = conn.execute(select(reconciliation_runs.c.run_id, reconciliation_runs.c.status))
            status = {row.run_id: row.status for row in rows}
    finally:
        store.dispose()
    assert status.pop("r-old") == "abandoned"
    assert status.pop("r-now") == "running"  # perhaps another process's, still going
    assert list(status.values()) == ["done"]
