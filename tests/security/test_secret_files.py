"""Secrets written to disk are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.security.secrets import resolve_secret, webhook_key, write_secret_file
from intermodal_sim.testing.odoo import CARRIER_TOKEN, hub_config

runner = CliRunner()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The worst case: a umask that would leave a new file readable and writable by all."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_secret_new_out_writes_a_0600_file_and_prints_nothing(tmp_path: Path) -> None:
    out = tmp_path / "acme-webhook.secret"
    result = runner.invoke(app, ["secret", "new", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600
    assert result.stdout == ""  # the secret is in the file only
    assert "0600" in result.stderr
    secret = resolve_secret(f"file:{out}")
    assert len(webhook_key(secret)) == 32


def test_secret_new_out_keeps_an_existing_file_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "acme-webhook.secret"
    out.write_text("whsec_old\n")
    out.chmod(0o644)
    refused = runner.invoke(app, ["secret", "new", "--out", str(out)])
    assert refused.exit_code == 1
    assert "exists" in refused.stderr and "--force" in refused.stderr
    assert out.read_text() == "whsec_old\n"
    forced = runner.invoke(app, ["secret", "new", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_text().startswith("whsec_") and out.read_text() != "whsec_old\n"
    assert mode(out) == 0o600  # the old file's 0644 is not inherited
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_secret_new_out_names_a_folder_it_cannot_write(tmp_path: Path) -> None:
    result = runner.invoke(app, ["secret", "new", "--out", str(tmp_path / "no" / "such")])
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_write_secret_file_does_not_follow_a_planted_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    link = tmp_path / "secret"
    link.symlink_to(elsewhere)
    with pytest.raises(FileExistsError):
        write_secret_file(link, "whsec_x")
    assert not elsewhere.exists()


def test_the_test_hubs_token_file_is_0600(tmp_path: Path) -> None:
    hub_config(tmp_path, "sqlite:///hub.db", "http://127.0.0.1:9", "db", "KEY_ENV")
    assert mode(tmp_path / "carrier.token") == 0o600
    assert resolve_secret("file:carrier.token", tmp_path).value == CARRIER_TOKEN
