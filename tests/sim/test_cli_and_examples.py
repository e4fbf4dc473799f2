"""`intermodal sim tms|wms|customs|portal` start real servers in their own processes; the
example mappings shipped for the simulators' messages read the samples beside them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import load_config
from intermodal.mapping.spec import load_mapping
from intermodal_sim.testing import free_port, wait_until
from tests.conftest import new_secret
from tests.sim.conftest import EXAMPLES

RUN = "from intermodal.cli import app; app()"


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _serve(arguments: list[str], ready_path: str) -> tuple[subprocess.Popen[str], str]:
    """`intermodal sim ...` on a free port, and its URL once `ready_path` answers 200.

    Another test running beside this one may take the port between `free_port` and the
    simulator's bind: the simulator then exits ("address already in use"), and an answer
    on that port may come from the other test's server. So a simulator that exits is
    started again on another port."""
    for _ in range(3):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", RUN, "sim", *arguments, "--port", str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: process.poll() is not None or _up(url + ready_path))
        if process.poll() is None:
            return process, url
    raise AssertionError(f"sim {arguments[0]} did not start on any of three free ports")


def test_portal_and_tms_from_the_command_line(tmp_path: Path) -> None:
    secret_file = tmp_path / "portal.secret"
    secret_file.write_text(new_secret())
    portal, portal_url = _serve(["portal", "--secret", f"file:{secret_file}"], "/_sim/stats")
    started = [portal]
    try:
        tms, tms_url = _serve(["tms", "--reply", "json", "--step-delay-ms", "0"], "/_sim/loads")
        started.append(tms)
        assert httpx.post(portal_url + "/hooks", content=b"{}").status_code in (401, 415)
        stats = httpx.get(portal_url + "/_sim/stats").json()
        assert stats["rejected_total"] == 1
        job = httpx.post(tms_url + "/v1/jobs", json={"shipment_key": "SHP-1"})
        assert job.status_code == 201
        wait_until(lambda: len(httpx.get(tms_url + "/_sim/sent").json()["sent"]) == 5)
        sent = httpx.get(tms_url + "/_sim/sent").json()["sent"]
        assert {r["error"] for r in sent} == {"standalone: no hub URL configured"}
    finally:
        for process in started:
            os.kill(process.pid, signal.SIGINT)
            process.wait(timeout=20)
    assert "webhook secret" not in (portal.stdout.read() if portal.stdout else "")
    tms_out = tms.stdout.read() if tms.stdout else ""
    assert "tms webhook secret for hub partner 'tms': whsec_" in tms_out


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["tms", "--faults", "teleport"], "faults"),
        (["tms", "--reply", "xml"], "reply"),
        (["tms", "--secret", "whsec_literal"], "env:VARIABLE"),
        (["wms", "--stock", "SKU-1=many"], "whole number"),
        (["customs", "--format", "yaml"], "format"),
        (["customs", "--hold", "no-equals-sign"], "KEY=VALUE"),
        (["portal", "--secret", "env:SIM_TEST_UNSET_VARIABLE"], "not set"),
        (["portal", "--tolerance", "0"], "tolerance"),
    ],
)
def test_bad_options_are_refused_before_serving(args: list[str], problem: str) -> None:
    result = CliRunner().invoke(app, ["sim", *args])
    assert result.exit_code == 2, result.output
    assert problem in result.output


@pytest.mark.parametrize(
    ("partner", "mapping", "sample", "expected"),
    [
        ("tms", "tms/mapping.yaml", "tms/sample_status.json", [("milestone", "picked_up")]),
        (
            "tms",
            "tms/mapping.yaml",
            "tms/sample_tender_response.json",
            [("milestone", "exception")],
        ),
        (
            "tms",
            "tms/mapping.yaml",
            "tms/sample_settlement.json",
            [("charge", "freight"), ("charge", "fuel")],
        ),
        ("tms-edi", "tms/mapping_x12.yaml", "tms/sample_990.x12", [("milestone", "booked")]),
        ("tms-edi", "tms/mapping_x12.yaml", "tms/sample_214.x12", [("milestone", "picked_up")]),
        (
            "tms-edi",
            "tms/mapping_x12.yaml",
            "tms/sample_210.x12",
            [("charge", "freight"), ("charge", "fuel")],
        ),
        ("wms", "wms/mapping.yaml", "wms/sample_short_pick.json", [("milestone", "exception")]),
        ("wms", "wms/mapping.yaml", "wms/sample_shipped.json", [("milestone", "picked_up")]),
        (
            "customs",
            "customs/mapping.yaml",
            "customs/sample_hold.json",
            [("customs", "hold"), ("milestone", "customs_hold")],
        ),
    ],
)
def test_example_mappings_read_their_samples(
    partner: str, mapping: str, sample: str, expected: list[tuple[str, str]]
) -> None:
    events = load_mapping(EXAMPLES / mapping, partner).parse((EXAMPLES / sample).read_bytes())
    found = []
    for event in events:
        data = event.data.model_dump(mode="json")
        if event.type.endswith("milestone"):
            found.append(("milestone", data["milestone"]))
        elif event.type.endswith("charge.recorded"):
            found.append(("charge", data["code"]))
        else:
            found.append(("customs", data["state"]))
    assert found == expected


def test_mapping_try_on_a_simulator_sample() -> None:
    result = CliRunner().invoke(
        app,
        [
            "mapping",
            "try",
            "tms-edi",
            str(EXAMPLES / "tms" / "sample_214.x12"),
            "-c",
            str(EXAMPLES / "tms" / "hub.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"milestone":"picked_up"' in result.output


@pytest.mark.parametrize("sim", ["tms", "wms", "customs", "portal"])
def test_example_hub_configs_load(sim: str) -> None:
    """Each simulator's example hub config is valid as it stands (its mapping files exist,
    its endpoints are of the right kinds); secrets are references, read at start."""
    settings = load_config(EXAMPLES / sim / "hub.yaml", resolve_secrets=False)
    assert settings.partners or settings.endpoints
