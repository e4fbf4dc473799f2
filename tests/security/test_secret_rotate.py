"""`intermodal secret rotate` walks a rotation through: the configuration change it prints
is applied as printed, and a real hub then accepts webhooks signed with the old secret and
the new one; after `--retire OLD` and a restart, only the new one. For an endpoint the
printed change makes the hub sign with both, then with the new one only."""

from __future__ import annotations

import shlex
import stat
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import load_config
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, new_webhook_secret, webhook_key
from intermodal_sim.testing import running_hub

runner = CliRunner()


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def rotate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["secret", "rotate", *args])
    return result.exit_code, result.stdout, result.stderr


def printed_snippet(output: str) -> dict[str, Any]:
    """The indented YAML block the command printed, read as the operator would paste it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    ") and line.strip())
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line)
    found = yaml.safe_load(textwrap.dedent("\n".join(block)))
    assert isinstance(found, dict)
    return found


def apply(config: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The printed change pasted in: the signing fields it lists replace those there."""
    for section, entries in change.items():
        for name, fields in entries.items():
            target = config[section][name]
            for key in ("webhook_secrets", "secret", "secrets"):
                target.pop(key, None)
            target.update(fields)
    return config


def webhook(url: str, secret: str, msg_id: str) -> int:
    body = (
        b'{"specversion":"1.0","id":"' + msg_id.encode() + b'","source":"acme",'
        b'"type":"intermodal.shipment.milestone","subject":"SHP-ROT",'
        b'"time":"2026-11-23T10:00:00Z","data":{"milestone":"picked_up",'
        b'"occurred_at":"2026-11-23T10:00:00Z"}}'
    )
    ts = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(webhook_key(Secret(secret)), msg_id, ts, body),
    }
    return httpx.post(f"{url}/v1/webhooks/acme", content=body, headers=headers).status_code


def test_a_partner_rotation_overlaps_then_retires_on_a_running_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = new_webhook_secret()
    monkeypatch.setenv("ACME_SECRET", old)
    path = tmp_path / "hub.yaml"
    config: dict[str, Any] = {
        "hub": {"database": f"sqlite:///{tmp_path / 'hub.db'}"},
        "partners": {"acme": {"webhook_secrets": ["env:ACME_SECRET"], "owns": ["picked_up"]}},
    }
    write_config(path, config)

    code, out, err = rotate("--partner", "acme", "--config", str(path))
    assert code == 0, err
    written = list((tmp_path / "secrets").iterdir())
    assert len(written) == 1 and written[0].name.startswith("acme-")
    assert stat.S_IMODE(written[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(written[0].parent.stat().st_mode) == 0o700
    new = written[0].read_text().strip()
    assert new.startswith("whsec_") and new not in out + err and old not in out + err
    assert Secret(new).fingerprint() in out and Secret(old).fingerprint() in out
    change = printed_snippet(out)
    assert change == {
        "partners": {
            "acme": {"webhook_secrets": ["env:ACME_SECRET", f"file:secrets/{written[0].name}"]}
        }
    }
    write_config(path, apply(config, change))
    with running_hub(load_config(path), dispatch=False) as url:  # the restart it asks for
        assert webhook(url, old, "before-switch") == 202
        assert webhook(url, new, "after-switch") == 202

    retire_line = next(line for line in out.splitlines() if "--retire" in line)
    code, out, err = rotate(*shlex.split(retire_line.strip())[3:])
    assert code == 0, err
    change = printed_snippet(out)
    assert change == {
        "partners": {"acme": {"webhook_secrets": [f"file:secrets/{written[0].name}"]}}
    }
    assert "remove the variable ACME_SECRET" in out
    write_config(path, apply(config, change))
    with running_hub(load_config(path), dispatch=False) as url:
        assert webhook(url, old, "old-after-retire") == 401
        assert webhook(url, new, "new-after-retire") == 202


def test_an_endpoint_rotation_signs_with_both_then_with_the_new_one(tmp_path: Path) -> None:
    (tmp_path / "portal.whsec").write_text(new_webhook_secret())
    path = tmp_path / "hub.yaml"
    config: dict[str, Any] = {
        "endpoints": {"portal": {"url": "https://portal.example/h", "secret": "file:portal.whsec"}}
    }
    write_config(path, config)
    out_file = tmp_path / "keys" / "portal-next.whsec"
    out_file.parent.mkdir()
    code, out, err = rotate("--endpoint", "portal", "-c", str(path), "--out", str(out_file))
    assert code == 0, err
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    old_key = webhook_key(Secret((tmp_path / "portal.whsec").read_text().strip()))
    new_key = webhook_key(Secret(out_file.read_text().strip()))
    write_config(path, apply(config, printed_snippet(out)))
    assert load_config(path).endpoints["portal"].secret_keys == (old_key, new_key)

    code, out, err = rotate(
        "--endpoint", "portal", "-c", str(path), "--retire", "file:portal.whsec"
    )
    assert code == 0, err
    assert f"Then delete {tmp_path / 'portal.whsec'}" in out
    change = printed_snippet(out)
    assert change == {"endpoints": {"portal": {"secret": "file:keys/portal-next.whsec"}}}
    write_config(path, apply(config, change))
    assert load_config(path).endpoints["portal"].secret_keys == (new_key,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partner", "acme", "--retire", "env:ACME_SECRET"], "only active secret of partner"),
        (["--partner", "acme", "--retire", "env:OTHER"], "env:OTHER is not one of"),
        (["--partner", "ghost"], "no partner named 'ghost'"),
        (["--endpoint", "ghost"], "no endpoint named 'ghost'"),
        (["--partner", "tms"], "partner tms has no webhook_secrets"),
        (["--partner", "shop"], "signs its own way"),
        (["--partner", "acme", "--out", "{existing}"], "exists; keep it"),
    ],
)
def test_a_rotation_that_cannot_be_done_says_why_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("ACME_SECRET", new_webhook_secret())
    monkeypatch.setenv("TMS_TOKEN", "tms-token-0123456789abcdef-0123456")
    path = tmp_path / "hub.yaml"
    write_config(
        path,
        {
            "partners": {
                "acme": {"webhook_secrets": ["env:ACME_SECRET"]},
                "tms": {"tokens": [{"token": "env:TMS_TOKEN"}]},
                "shop": {
                    "webhook_secrets": ["env:ACME_SECRET"],
                    "signature": {"preset": "shopify"},
                },
            }
        },
    )
    existing = tmp_path / "kept.whsec"
    existing.write_text("whsec_kept\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = rotate(
        *[a.replace("{existing}", str(existing)) for a in args], "-c", str(path)
    )
    assert code == 1 and message in err, err
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert existing.read_text() == "whsec_kept\n"


def test_one_of_partner_or_endpoint_and_a_configuration_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTERMODAL_CONFIG", raising=False)
    assert rotate()[0] == 2
    assert rotate("--partner", "a", "--endpoint", "b")[0] == 2
    code, _, err = rotate("--partner", "acme")
    assert code == 2 and "give the configuration" in err
