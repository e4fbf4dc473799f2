"""The `intermodal` command: dead letters, audit verification, config errors, send."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.engine.ids import iso, utcnow
from intermodal.store import open_store
from intermodal.store.tables import dead_letters

runner = CliRunner()


def seed_dead_letters(url: str, count: int) -> list[str]:
    store = open_store(url)
    now = iso(utcnow())
    ids = [f"cmd_{i:04d}" for i in range(count)]
    with store.write() as conn:
        conn.execute(
            dead_letters.insert(),
            [
                {
                    "command_id": cid,
                    "endpoint": "portal" if i % 2 else "tms",
                    "kind": "webhook",
                    "subject": f"S{i}",
                    "payload": json.dumps({"id": cid}).encode(),
                    "correlation_id": "c",
                    "attempts": 10,
                    "last_error": "HTTP 503",
                    "created_at": now,
                    "dead_at": now,
                }
                for i, cid in enumerate(ids)
            ],
        )
    store.dispose()
    return ids


def test_dlq_list_show_replay_and_audit(db_url: str) -> None:
    ids = seed_dead_letters(db_url, 6)
    listed = runner.invoke(app, ["dlq", "list", "--db", db_url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["total"] == 6
    table = runner.invoke(app, ["dlq", "list", "--db", db_url, "--partner", "portal"])
    assert "dead letters: 3" in table.output

    shown = runner.invoke(app, ["dlq", "show", ids[0], "--db", db_url])
    assert json.loads(shown.output)["last_error"] == "HTTP 503"
    assert runner.invoke(app, ["dlq", "show", "cmd_nope", "--db", db_url]).exit_code == 1

    assert runner.invoke(app, ["dlq", "replay", "--db", db_url]).exit_code == 2
    one = runner.invoke(app, ["dlq", "replay", "--db", db_url, "--id", ids[0]])
    assert "replayed 1" in one.output and one.exit_code == 0
    partial = runner.invoke(app, ["dlq", "replay", "--db", db_url, "--id", ids[0]])
    assert partial.exit_code == 1  # already replayed: say so
    rest = runner.invoke(app, ["dlq", "replay", "--db", db_url, "--all", "--partner", "portal"])
    assert "replayed 3" in rest.output

    ok = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert ok.exit_code == 0 and "intact: 2 row(s) in 1 chain(s)" in ok.output
    store = open_store(db_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit SET actor = 'someone-else' WHERE seq = 1"))
    store.dispose()
    broken = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert broken.exit_code == 1 and "row 1 was edited" in broken.output


def test_serve_refuses_a_bad_config_with_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "partners:\n  acme:\n    webhook_secrets: [whsec_literal]\n    owns: [teleported]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "webhook_secrets.0" in result.stderr and "owns.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_new_is_a_valid_standard_webhooks_secret() -> None:
    from standardwebhooks import Webhook

    out = runner.invoke(app, ["secret", "new"]).output.strip()
    assert out.startswith("whsec_")
    Webhook(out)


def test_send_reports_an_unreachable_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from intermodal_sim.testing import free_port

    monkeypatch.setenv("S", "whsec_" + "A" * 44)
    body = tmp_path / "e.json"
    body.write_text("{}")
    result = runner.invoke(
        app,
        [
            "send",
            str(body),
            "--partner",
            "p",
            "--secret-env",
            "S",
            "--url",
            f"http://127.0.0.1:{free_port()}",
        ],
    )
    assert result.exit_code == 1 and "cannot reach" in result.output


def test_serve_refuses_an_endpoint_kind_no_sink_provides(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("endpoints:\n  erp:\n    kind: mainframe\n    url: http://127.0.0.1:9/x\n")
    result = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "endpoints.erp.kind: unknown kind 'mainframe'" in result.stderr


def test_serve_names_bad_options_of_a_known_endpoint_kind(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "endpoints:\n  odoo:\n    kind: odoo\n    url: http://127.0.0.1:9\n"
        "    options: {api_key: 'env:NOPE_NOT_SET_EITHER'}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "endpoints.odoo.options.database" in result.stderr


def _command_paths() -> list[list[str]]:
    """Every command and group reachable from `intermodal`, plugins' included."""
    import typer.main

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_help_shows_flags_without_a_type() -> None:
    """typer 0.29's rich help wrote `--json <bool>` and even `--help <bool>`."""
    paths = _command_paths()
    assert ["dlq", "list"] in paths and ["serve"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
    listing = runner.invoke(app, ["dlq", "list", "--help"]).output
    assert "--json" in listing and "<str>" in listing  # other options keep their type


def test_serve_help_names_every_environment_variable_it_reads() -> None:
    from intermodal.config import _ENV_OVERRIDES

    output = " ".join(runner.invoke(app, ["serve", "--help"]).output.split())
    for name in ["INTERMODAL_CONFIG", *_ENV_OVERRIDES]:
        assert name in output, name


SERVE = [sys.executable, "-m", "intermodal.cli", "serve"]


def test_serve_refuses_a_thread_applier_with_several_workers(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("hub:\n  applier: thread\n")
    result = subprocess.run(
        [*SERVE, "--config", str(config), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "hub.applier: 'thread'" in result.stderr and "hub.workers: 1" in result.stderr


def test_serve_says_when_its_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVE, "--workers", "2", "--port", str(port), "--db", f"sqlite:///{tmp_path}/h.db"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
