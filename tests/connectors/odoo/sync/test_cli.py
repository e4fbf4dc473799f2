"""`intermodal sync` against the Odoo test server, and the hub's scheduled sync."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import load_config
from intermodal.store import open_store
from intermodal.store.tables import currency_rates, master_data
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.testing import running_hub, wait_until

runner = CliRunner()


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSim]:
    with running_sim(version=19) as running:
        monkeypatch.setenv("ODOO_TEST_API_KEY", running.api_key)
        yield running


def _config(path: Path, sim: RunningSim, database: str, **sync: Any) -> Path:
    config: dict[str, Any] = {
        "hub": {"database": database},
        "endpoints": {
            "odoo": {"kind": "odoo", "url": sim.url,
                     "options": {"database": sim.db, "api_key": "env:ODOO_TEST_API_KEY"}},
        },
    }  # fmt: skip
    if sync:
        config["sync"] = {"endpoint": "odoo", **sync}
    path.write_text(yaml.safe_dump(config))
    return path


def _kinds(url: str) -> dict[str, int]:
    store = open_store(url, migrate=False)
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(master_data.c.kind, func.count()).group_by(master_data.c.kind)
            ).all()
            rates = conn.execute(select(func.count()).select_from(currency_rates)).scalar_one()
    finally:
        store.dispose()
    return {**{r[0]: int(r[1]) for r in rows}, "rates": int(rates)}


def test_sync_command_copies_the_models_asked_for(
    sim: RunningSim, sqlite_url: str, tmp_path: Path
) -> None:
    path = _config(tmp_path / "hub.yaml", sim, sqlite_url, interval_seconds=0, overlap_seconds=0)
    result = runner.invoke(app, ["sync", "-c", str(path), "--model", "delivery.carrier"])
    assert result.exit_code == 0, result.output
    assert _kinds(sqlite_url) == {"carrier": 4, "rates": 0}
    assert "delivery.carrier" in result.stderr and "4" in result.stderr

    result = runner.invoke(app, ["sync", "-c", str(path)])
    assert result.exit_code == 0, result.output
    kinds = _kinds(sqlite_url)
    assert kinds["rates"] == 4 and kinds["currency"] >= 5 and kinds["partner"] >= 8

    # Nothing new: a rerun reads no carrier; --full reads all 4 again and stores none twice.
    result = runner.invoke(app, ["sync", "-c", str(path), "-m", "delivery.carrier"])
    assert re.search(r"delivery\.carrier\s*\S\s*0\b", result.stderr), result.stderr
    result = runner.invoke(app, ["sync", "-c", str(path), "-m", "delivery.carrier", "--full"])
    assert result.exit_code == 0, result.output
    assert re.search(r"delivery\.carrier\s*\S\s*4\b", result.stderr), result.stderr
    assert _kinds(sqlite_url) == kinds


def test_sync_command_errors_are_named(sim: RunningSim, sqlite_url: str, tmp_path: Path) -> None:
    without = _config(tmp_path / "plain.yaml", sim, sqlite_url)
    result = runner.invoke(app, ["sync", "-c", str(without)])
    assert result.exit_code == 2 and "give --endpoint" in result.stderr

    result = runner.invoke(app, ["sync", "-c", str(without), "--endpoint", "nope"])
    assert result.exit_code == 2 and "'nope' is not an odoo endpoint" in result.stderr

    path = _config(tmp_path / "hub.yaml", sim, sqlite_url)
    result = runner.invoke(
        app, ["sync", "-c", str(without), "--endpoint", "odoo", "-m", "sale.order"]
    )
    assert result.exit_code == 2 and "unknown model(s) sale.order" in result.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"sync": {"endpoint": "missing", "models": ["res.users"]}}))
    result = runner.invoke(app, ["sync", "-c", str(bad)])
    assert result.exit_code == 2
    assert "sync.models.0" in result.stderr
    assert "Traceback" not in result.output

    sim.set_faults("down=60s")  # Odoo down: exit 1, and a hint that a rerun resumes
    result = runner.invoke(app, ["sync", "-c", str(path), "--endpoint", "odoo"])
    assert result.exit_code == 1 and "run again to resume" in result.stderr


def test_a_sync_endpoint_must_be_an_odoo_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "endpoints": {"portal": {"url": "https://p.example.com"}},
                "sync": {"endpoint": "portal"},
            }
        )
    )
    with pytest.raises(ValueError, match=r"sync\.endpoint: 'portal' is a webhook endpoint"):
        load_config(path)


def test_the_hub_syncs_on_its_schedule(sim: RunningSim, db_url: str, tmp_path: Path) -> None:
    path = _config(
        tmp_path / "hub.yaml", sim, db_url, interval_seconds=0.5, models=["res.currency.rate"]
    )
    with running_hub(load_config(path), dispatch=False):
        wait_until(lambda: _kinds(db_url).get("rates") == 4, timeout=20)
