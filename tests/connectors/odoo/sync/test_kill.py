"""`intermodal sync` killed with SIGKILL mid-pass (a real process, a real SQLite file, the
Odoo test server slowed down), then run again: every record once, none skipped, and the
second run reads exactly what the first did not commit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from sqlalchemy import func, select

from intermodal.store import open_store
from intermodal.store.tables import master_data
from intermodal_sim.odoo.testing import running_sim

INTERMODAL = str(Path(sys.executable).with_name("intermodal"))


def _partners(url: str) -> list[int]:
    store = open_store(url, migrate=False)
    try:
        with store.read() as conn:
            return sorted(
                conn.execute(
                    select(master_data.c.odoo_id).where(master_data.c.kind == "partner")
                ).scalars()
            )
    finally:
        store.dispose()


def _count(url: str) -> int:
    store = open_store(url, migrate=False)
    try:
        with store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(master_data)).scalar_one())
    finally:
        store.dispose()


def test_a_killed_sync_resumes_without_skipping_or_duplicating(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    open_store(database).dispose()  # migrated before the race starts
    with running_sim(version=19) as sim:
        headers = {"authorization": f"bearer {sim.api_key}"}
        created = httpx.post(
            f"{sim.url}/json/2/res.partner/create",
            json={"vals_list": [{"name": f"P{n:02d}", "ref": f"P-{n:02d}"} for n in range(40)]},
            headers=headers,
        )
        assert created.status_code == 200, created.text
        everyone = httpx.post(
            f"{sim.url}/json/2/res.partner/search",
            json={"domain": [], "context": {"active_test": False}},
            headers=headers,
        ).json()
        config = {
            "hub": {"database": database},
            "endpoints": {"odoo": {"kind": "odoo", "url": sim.url, "options": {
                "database": sim.db, "api_key": "env:ODOO_TEST_API_KEY", "protocol": "json2"}}},
            "sync": {"endpoint": "odoo", "page_size": 4, "overlap_seconds": 0,
                     "models": ["res.partner"]},
        }  # fmt: skip
        path = tmp_path / "hub.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "ODOO_TEST_API_KEY": sim.api_key, "COLUMNS": "200"}
        sim.set_faults("res.partner/search_read:latency=150ms")
        proc = subprocess.Popen(
            [INTERMODAL, "sync", "-c", str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while _count(database) < 12:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the sync never got going"
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
        stored = _partners(database)
        assert 12 <= len(stored) < len(everyone)
        assert len(stored) % 4 == 0  # whole pages only: a page and its cursor commit together
        assert stored == sorted(everyone)[: len(stored)]  # a prefix: nothing skipped

        sim.set_faults(None)
        again = subprocess.run(
            [INTERMODAL, "sync", "-c", str(path)], env=env, capture_output=True, timeout=120
        )
        assert again.returncode == 0, again.stderr.decode()
        read = re.search(r"res\.partner\s*[│|]\s*(\d+)", again.stderr.decode())
        assert read is not None, again.stderr.decode()
        assert int(read.group(1)) == len(everyone) - len(stored)  # exactly the rest
        assert _partners(database) == sorted(everyone)
