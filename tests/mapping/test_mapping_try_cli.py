"""`intermodal mapping try` as a newcomer types it: from the repository root, no -c."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intermodal.cli import app

ROOT = Path(__file__).resolve().parents[2]


def readme_command() -> list[str]:
    """The README's `mapping try` line, without its comment and the program name."""
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("intermodal mapping try "):
            return shlex.split(line, comments=True)[1:]
    raise AssertionError("README.md shows no 'intermodal mapping try' command")


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("INTERMODAL_CONFIG", raising=False)


def test_the_readme_example_runs_as_written_from_the_repository_root(at_root: None) -> None:
    args = readme_command()
    assert "-c" not in args and "--config" not in args
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("intermodal.shipment.milestone") == 2
    assert "partner 'swiftparcel' from examples/partners/hub.yaml" in " ".join(
        result.stderr.split()
    )


def test_an_unknown_partner_names_the_files_read_and_how_to_point_at_another(
    at_root: None,
) -> None:
    sample = "examples/partners/swiftparcel/sample.json"
    result = CliRunner().invoke(app, ["mapping", "try", "nobody", sample])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "no partner named 'nobody'" in message
    assert "examples/intermodal.yaml (partners: acme-carrier)" in message
    assert "examples/partners/hub.yaml (partners: ridgeline, swiftparcel)" in message
    assert "-c FILE" in message and "Traceback" not in result.output


def test_a_given_configuration_is_the_only_one_read(at_root: None, tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("partners:\n  acme: {webhook_secrets: ['env:ACME_S']}\n")
    sample = "examples/partners/swiftparcel/sample.json"
    result = CliRunner().invoke(app, ["mapping", "try", "swiftparcel", sample, "-c", str(config)])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"no partner named 'swiftparcel' in {config} (partners: acme)" in message
    assert "-c FILE" in message
