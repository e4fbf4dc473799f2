"""Configuration: every mistake reported with its path, secrets only by reference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intermodal.canonical.model import MilestoneType
from intermodal.config import ConfigError, Settings, load_config
from tests.conftest import new_secret

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_WEBHOOK_SECRET", new_secret())
    settings = load_config(ROOT / "examples" / "intermodal.yaml")
    acme = settings.partners["acme-carrier"]
    assert acme.kind == "carrier" and len(acme.webhook_keys) == 1
    assert acme.owns == {
        MilestoneType.PICKED_UP,
        MilestoneType.IN_TRANSIT,
        MilestoneType.OUT_FOR_DELIVERY,
        MilestoneType.DELIVERED,
        MilestoneType.DELIVERY_FAILED,
    }
    assert settings.hub.port == 8080
    assert not settings.ownership.allows(MilestoneType.DELIVERED, "someone-else")


def test_every_mistake_is_reported_at_once(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError) as info:
        make_settings(
            {
                "hub": {"port": 99999},
                "partners": {
                    "Bad Name": {},
                    "acme": {"owns": ["teleported"], "webhook_secrets": ["whsec_literal"]},
                },
                "endpoints": {"portal": {"url": "ftp://x"}},
            }
        )
    text = str(info.value)
    for fragment in (
        "hub.port",
        "Bad Name",
        "partners.acme.owns.0",
        "webhook_secrets.0",
        "endpoints.portal.url",
    ):
        assert fragment in text, text


def test_missing_environment_variable_is_named(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    with pytest.raises(ConfigError, match="environment variable NOPE_SECRET is not set"):
        make_settings({"partners": {"acme": {"webhook_secrets": ["env:NOPE_SECRET"]}}})


def test_secret_from_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "acme.secret").write_text(new_secret() + "\n")
    config = tmp_path / "c.yaml"
    config.write_text("partners:\n  acme:\n    webhook_secrets: ['file:acme.secret']\n")
    assert len(load_config(config).partners["acme"].webhook_keys) == 1


def test_secret_values_never_appear_in_errors(make_settings: Callable[..., Settings]) -> None:
    not_a_whsec = "supersecretvalue!!"
    with pytest.raises(ConfigError) as info:
        make_settings(
            {"partners": {"acme": {"webhook_secrets": ["env:ACME_S"]}}}, env={"ACME_S": not_a_whsec}
        )
    assert not_a_whsec not in str(info.value)
    assert "env:ACME_S" in str(info.value)


def test_environment_overrides_file_and_flags_override_environment(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERMODAL_PORT", "9001")
    assert make_settings({"hub": {"port": 8081}}).hub.port == 9001
    settings = load_config(None, {"port": 9002})
    assert settings.hub.port == 9002


def test_tokens_are_scoped_and_unique(make_settings: Callable[..., Settings]) -> None:
    config: dict[str, Any] = {
        "partners": {
            "tms": {"tokens": [{"token": "env:TOK", "scopes": ["events:write"]}]},
            "wms": {"tokens": [{"token": "env:TOK"}]},
        }
    }
    with pytest.raises(ConfigError, match="same token is given to two partners"):
        make_settings(config, env={"TOK": "t0k3n-value-123-for-the-config-tests"})


@pytest.mark.parametrize("text", ["[1, 2]", "hub: [", "partners: 5"])
def test_malformed_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


def test_workers_default_to_the_cores_up_to_eight_and_are_checked(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.delenv("INTERMODAL_WORKERS", raising=False)
    for cores, workers in ((1, 1), (2, 1), (3, 1), (4, 4), (6, 6), (8, 8), (64, 8)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert make_settings({}).hub.workers == workers, cores
        assert make_settings({}).hub.applier_count() == max(1, workers // 4)
    assert make_settings({"hub": {"workers": 12}}).hub.workers == 12
    monkeypatch.setenv("INTERMODAL_WORKERS", "3")
    assert make_settings({"hub": {"workers": 12}}).hub.workers == 3
    for wrong in ("0", "many", "65"):
        monkeypatch.setenv("INTERMODAL_WORKERS", wrong)
        with pytest.raises(ConfigError, match=r"hub\.workers: "):
            make_settings({})
