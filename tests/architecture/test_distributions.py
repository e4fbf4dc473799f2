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
