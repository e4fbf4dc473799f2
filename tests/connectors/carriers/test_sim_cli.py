"""`intermodal sim carrier` starts a real server in its own process, scriptable over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from intermodal_sim.testing import free_port, wait_until

RUN = "from intermodal_sim.carriers.cli import sim_app; sim_app()"


def _up(url: str) -> bool:
    try:
        httpx.get(url + "/_sim/labels", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True


def test_parcelpro_from_the_command_line() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["carrier", "--kind", "parcelpro", "--port", str(port), "--secret", "k-123"]
    process = subprocess.Popen([sys.executable, "-c", RUN, *args], stdout=subprocess.PIPE)
    try:
        wait_until(lambda: _up(url), timeout=20)
        body = {"from": {"country": "US"}, "to": {"country": "US"},
                "parcels": [{"weight_kg": 1, "dims_cm": [1, 1, 1]}]}  # fmt: skip
        headers = {"authorization": "Bearer k-123"}
        assert httpx.post(url + "/v2/rates", json=body, headers=headers).status_code == 200
        assert httpx.post(url + "/_sim/control", json={"outage": True}).status_code == 200
        assert httpx.post(url + "/v2/rates", json=body, headers=headers).status_code == 503
        assert httpx.post(url + "/_sim/control", json={"outage": "x"}).status_code == 422
    finally:
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=20)


def test_unknown_tracking_faults_are_refused() -> None:
    args = ["carrier", "--kind", "freightline", "--tracking-faults", "gaps,teleport"]
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "teleport" in done.stderr
