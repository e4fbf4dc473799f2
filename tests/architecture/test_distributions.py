"""What `pip install intermodal` ships: the hub, and none of the simulators, demo or test helpers.

The wheel is built from this checkout with hatchling, the build backend pyproject.toml
names, so the test sees exactly the files a production install gets.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hub_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "--target", "wheel", "--directory", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("intermodal-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_hub_wheel_carries_no_simulator(hub_wheel: zipfile.ZipFile) -> None:
    names = hub_wheel.namelist()
    assert not [n for n in names if n.startswith("intermodal_sim")]
    assert not [n for n in names if n.startswith(("intermodal/sim/", "intermodal/demo/"))]
    assert "intermodal/testing.py" not in names
    assert not [n for n in names if n.endswith("/testing.py")]


def test_the_hub_wheel_carries_its_data(hub_wheel: zipfile.ZipFile) -> None:
    names = set(hub_wheel.namelist())
    for expected in (
        "intermodal/dashboard/templates/base.html",
        "intermodal/dashboard/static/tower.css",
        "intermodal/workflows/flows/billing.yaml",
        "intermodal/store/migrations/env.py",
    ):
        assert expected in names, expected


def test_the_simulators_plug_into_the_hub_cli() -> None:
    from typer.testing import CliRunner

    from intermodal.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "sim", "odoo-sim"):
        assert command in result.output


def test_without_the_simulators_their_commands_say_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typer
    from typer.testing import CliRunner

    from intermodal import cli

    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    bare = typer.Typer()
    bare.command("version")(lambda: None)
    cli.add_plugin_commands(bare)
    result = CliRunner().invoke(bare, ["demo"])
    assert result.exit_code == 2
    assert "pip install ./sim" in result.output
    assert "demo" not in CliRunner().invoke(bare, ["--help"]).output


def test_the_hub_cli_loads_the_simulators_only_for_their_commands() -> None:
    """Every process `intermodal serve` spawns imports the CLI's module again: the
    simulators (most of their stack) load only when one of their commands runs."""
    import subprocess
    import sys

    probe = "import sys, intermodal.cli; print(sorted(m for m in sys.modules if 'sim' in m))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "intermodal_sim" not in loaded, loaded


def test_the_hub_cli_without_the_simulators_still_says_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from intermodal import cli

    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    result = CliRunner().invoke(cli.app, ["demo"])
    assert result.exit_code == 2 and "pip install ./sim" in result.output
    listed = CliRunner().invoke(cli.app, ["--help"]).output
    assert "secret" in listed and "demo" not in listed
