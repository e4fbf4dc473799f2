"""A `nats` endpoint's configuration: every mistake named at start, before the hub runs,
and secrets only as references that never show in a message."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intermodal.config import ConfigError, Settings
from intermodal.outbox.sinks import endpoint_problems
from intermodal.wiring import SINK_KINDS

from .conftest import NATS_URL


@pytest.mark.parametrize(
    ("endpoint", "env", "expected"),
    [
        ({"options": {}}, {}, "endpoints.bi.options.stream: Field required"),
        ({"url": "https://127.0.0.1:4222"}, {}, "is not a nats:// or tls:// server URL"),
        (
            {"options": {"stream": "S", "subject": "x.{shipment}"}},
            {},
            "endpoints.bi.options.subject: unknown placeholder '{shipment}'",
        ),
        (
            {"options": {"stream": "S", "subject": "{partner}.events"}},
            {},
            "endpoints.bi.options.subject: start with a fixed token",
        ),
        (
            {"options": {"stream": "S", "subject": "a b.{type}"}},
            {},
            "is not a NATS subject",
        ),
        (
            {"options": {"stream": "S", "token": "env:T", "user": "u", "password": "env:P"}},
            {"T": "t0ken-value", "P": "pw-value"},
            "endpoints.bi.options.token: give a token alone",
        ),
        (
            {"options": {"stream": "S", "user": "u"}},
            {},
            "endpoints.bi.options: 'user' and 'password' go together",
        ),
        (
            {"options": {"stream": "S", "password": "hunter2", "user": "u"}},
            {},
            "endpoints.bi.options.password: String should match pattern",
        ),
        (
            {"options": {"stream": "S", "creds": "env:INTERMODAL_TEST_NO_SUCH_VARIABLE"}},
            {},
            "endpoints.bi.options.creds:",
        ),
        ({"options": {"stream": "S", "storage": "tape"}}, {}, "endpoints.bi.options.storage:"),
    ],
)
def test_bad_configuration_is_named_at_start(
    make_settings: Callable[..., Settings],
    endpoint: dict[str, Any],
    env: dict[str, str],
    expected: str,
) -> None:
    config = {"kind": "nats", "url": NATS_URL, "options": {"stream": "S"}, **endpoint}
    settings = make_settings({"endpoints": {"bi": config}}, env=env)
    problems = endpoint_problems(SINK_KINDS, settings.endpoints)
    assert len(problems) == 1, problems
    assert expected in problems[0], problems
    for value in env.values():
        assert value not in problems[0]


def test_credentials_in_the_url_are_refused_when_the_file_is_read(
    make_settings: Callable[..., Settings],
) -> None:
    config = {"kind": "nats", "url": "nats://hub:pw@127.0.0.1:4222", "options": {"stream": "S"}}
    with pytest.raises(ConfigError) as raised:
        make_settings({"endpoints": {"bi": config}})
    assert "endpoints.bi.url: no credentials in the URL" in str(raised.value)
    assert "hub:pw" not in str(raised.value)


def test_a_good_configuration_has_no_problems(make_settings: Callable[..., Settings]) -> None:
    endpoint = {
        "kind": "nats",
        "url": "nats://127.0.0.1:4222, tls://nats-2.example:4222",
        "options": {"stream": "EVENTS", "user": "hub", "password": "env:NATS_PASSWORD"},
    }
    settings = make_settings({"endpoints": {"bi": endpoint}}, env={"NATS_PASSWORD": "pw"})
    assert endpoint_problems(SINK_KINDS, settings.endpoints) == []


def test_only_a_nats_endpoint_takes_a_nats_url(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings({"endpoints": {"portal": {"url": "nats://127.0.0.1:4222"}}})
    assert "endpoints.portal.url: a webhook endpoint takes an http(s):// URL" in str(raised.value)


def test_serve_refuses_a_bad_nats_endpoint_before_it_starts(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "endpoints:\n  bi:\n    kind: nats\n    url: nats://127.0.0.1:4222\n"
        "    options: {stream: EVENTS, subject: 'events.{shipment}'}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "endpoints.bi.options.subject: unknown placeholder '{shipment}'" in result.stderr
