"""A real `intermodal serve` in a subprocess, for tests that need the server as shipped:
its HTTP protocol and limits (api/limits.py), and everything it writes to stderr."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from intermodal.ingress.signatures import sign
from intermodal_sim.testing import free_port, wait_until

HUB_BIN = str(Path(sys.executable).with_name("intermodal"))


@dataclass
class HubProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    """stdout and stderr of the hub, together."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def peak_memory_kib(self) -> int:
        """The serve process's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")


@contextlib.contextmanager
def hub_process(
    tmp_path: Path, config: dict[str, Any], env: dict[str, str], log_level: str = "info"
) -> Iterator[HubProcess]:
    """`intermodal serve --workers 1` on a free port with `config` (its `hub.database` is
    a SQLite file in `tmp_path` unless given), stopped with SIGTERM afterwards."""
    hub = {"database": f"sqlite:///{tmp_path / 'hub.db'}", **config.get("hub", {})}
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({**config, "hub": hub}), encoding="utf-8")
    port = free_port()
    log = tmp_path / "serve.log"
    command = [HUB_BIN, "serve", "--config", str(path), "--port", str(port), "--workers", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env={**os.environ, **env, "INTERMODAL_LOG_LEVEL": log_level},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = HubProcess(proc, port, log)

    def ready() -> bool:
        assert proc.poll() is None, served.output()[-4000:]
        try:
            answer = httpx.get(f"{served.url}/readyz", headers={"connection": "close"})
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    try:
        wait_until(ready, 60)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # serve stops its applier process itself
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def signed_webhook(
    key: bytes, message_id: str, event: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """A Standard Webhooks-signed body and its headers, as a partner sends them."""
    body = orjson.dumps(event)
    now = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(key, message_id, now, body),
    }
    return body, headers
