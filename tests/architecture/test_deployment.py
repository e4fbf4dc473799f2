"""The deployment files in deploy/ ask only for what the hub has.

They are not run here (no Docker daemon, no registry for their images), so what can rot is
checked instead: the commands, flags, environment variables and configuration they use
are ones `intermodal serve` accepts. Where Docker's compose plugin exists, compose itself
validates the file as well.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def serve_help() -> str:
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def assert_serve_command(argv: list[str]) -> None:
    assert argv[0] == "serve", argv
    help_text = serve_help()
    for arg in argv[1:]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in help_text, f"serve has no option {arg}"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_three_hubs_on_one_postgresql_with_nats() -> None:
    services = compose()["services"]
    hubs = [name for name in services if name.startswith("hub")]
    assert hubs == ["hub1", "hub2", "hub3"]
    assert {"postgres", "nats", "balancer"} <= set(services)
    assert "-js" in services["nats"]["command"]
    urls = {services[h]["environment"]["INTERMODAL_DATABASE"] for h in hubs}
    assert len(urls) == 1
    assert urls.pop().startswith("postgresql://")
    help_text = serve_help()
    for hub in hubs:
        assert_serve_command(services[hub]["command"])
        for variable in services[hub]["environment"]:
            if variable.startswith("INTERMODAL_"):
                assert variable in help_text, f"serve does not read {variable}"
    upstream = (DEPLOY / "nginx.conf").read_text("utf-8")
    for hub in hubs:
        assert f"server {hub}:8080" in upstream


def test_the_mounted_configuration_loads(tmp_path: Path) -> None:
    secret = tmp_path / "acme-webhook.secret"
    runner = CliRunner()
    assert runner.invoke(app, ["secret", "new", "--out", str(secret)]).exit_code == 0
    text = (DEPLOY / "intermodal.yaml").read_text("utf-8")
    text = text.replace("/run/secrets/acme_webhook_secret", str(secret))
    config = tmp_path / "intermodal.yaml"
    config.write_text(text, "utf-8")
    settings = load_config(config)
    assert "acme-carrier" in settings.partners
    mounted = compose()["services"]["hub1"]["volumes"]
    assert "./intermodal.yaml:/etc/intermodal/intermodal.yaml:ro" in mounted


def test_the_image_installs_the_hub_alone_and_serves() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text("utf-8")
    assert "COPY src ./src" in dockerfile
    assert "sim" not in dockerfile.replace("simulators", "")
    assert 'ENTRYPOINT ["intermodal"]' in dockerfile
    assert "/readyz" in dockerfile
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert_serve_command(yaml.safe_load(cmd.removeprefix("CMD ")))


def test_the_systemd_unit_starts_serve() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "intermodal.service")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0].endswith("/intermodal")
    assert_serve_command(argv[1:])
    assert unit["Service"]["UMask"] == "0077"


def test_compose_validates_where_docker_compose_exists() -> None:
    """Compose's own check where the plugin is installed; the shape checks above run
    everywhere, so a machine without Docker still tests the file."""
    docker = shutil.which("docker")
    if docker is None:
        return
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        return
    secret = DEPLOY / "secrets" / "acme-webhook.secret"
    made = not secret.exists()
    if made:
        secret.write_text("whsec_placeholder-for-compose-config\n", "utf-8")
    try:
        result = subprocess.run(
            [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if made:
            secret.unlink()
    assert result.returncode == 0, result.stderr
