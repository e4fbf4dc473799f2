"""A running hub with the control tower on, fed a scripted scenario through its real API.

The scenario is what an operator's morning looks like: a few shipments with references
and tracking numbers, a late scan, a duplicate, an ownership violation, a partner payload
with script in it, commands an endpoint refused (dead letters), a message the mapping
rejected (quarantine), exception cases (inserted as the flows worker would) and one
reconciliation run. Browser tests (Debian's Chromium via Playwright) and plain HTTP tests
read the same hub.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import func, select

from intermodal.config import Settings, load_config
from intermodal.engine.ids import iso, utcnow
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import Store, open_store
from intermodal.store.tables import cases, dead_letters, inbox, reconciliation_runs
from intermodal_sim.testing import Receiver, running_hub, serve_in_thread, wait_until
from tests.conftest import backend_database, new_secret
from tests.e2e.chromium import ChromiumUnavailable, ensure_chromium

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
OPERATOR = ("olga", "operator-password-0123")
VIEWER = ("victor", "viewer-password-0123")
PARTNERS = ("acme", "rogue", "erp", "swiftparcel")
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@dataclass
class TowerHub:
    url: str
    settings: Settings
    store: Store
    receiver: Receiver
    keys: dict[str, bytes]

    def webhook(self, payload: Any, msg_id: str, partner: str = "acme") -> httpx.Response:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        key = self.keys[partner]
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(key, msg_id, ts, body),
        }
        return httpx.post(f"{self.url}/v1/webhooks/{partner}", content=body, headers=headers)

    def count(self, table: Any, *where: Any) -> int:
        with self.store.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            )

    def login(self, who: tuple[str, str] = OPERATOR) -> httpx.Client:
        """An HTTP client holding a logged-in session, like a browser would."""
        client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
        form = client.get("/tower/login")
        csrf = csrf_of(form.text)
        answer = client.post(
            "/tower/login",
            data={"username": who[0], "password": who[1], "csrf": csrf, "next": "/tower/"},
        )
        assert answer.status_code == 303, answer.text
        return client


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def milestone(event_id: str, key: str, name: str, at: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "acme",
        "type": "intermodal.shipment.milestone",
        "subject": key,
        "time": at,
        "data": {"milestone": name, "occurred_at": at, **data},
    }


def upserted(
    event_id: str, key: str, references: dict[str, Any], stops: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "odoo" if event_id.startswith("odoo:") else "acme",
        "type": "intermodal.shipment.upserted",
        "subject": key,
        "time": "2026-11-29T07:00:00Z",
        "data": {"key": key, "references": references, "stops": stops or []},
    }


def lane(origin: str, destination: str, country: str = "US") -> list[dict[str, Any]]:
    """A pickup and a delivery in cities the tower's map can place."""
    return [
        {"sequence": 1, "kind": "pickup", "address": {"city": origin, "country": country}},
        {"sequence": 2, "kind": "delivery", "address": {"city": destination, "country": country}},
    ]


def _config(folder: Path, database: str, receiver_url: str) -> Settings:
    for name, value in {
        **{f"{name}.secret": new_secret() for name in PARTNERS},
        "olga.password": OPERATOR[1],
        "victor.password": VIEWER[1],
    }.items():
        (folder / name).write_text(value)
    shutil.copy(EXAMPLES / "swiftparcel" / "mapping.yaml", folder / "swift.yaml")
    config = {
        "hub": {"database": database},
        "partners": {
            "acme": {
                "kind": "carrier",
                "webhook_secrets": ["file:acme.secret"],
                "owns": ["picked_up", "delivered", "delivery_failed"],
            },
            "rogue": {"kind": "tms", "webhook_secrets": ["file:rogue.secret"]},
            "erp": {"kind": "odoo", "webhook_secrets": ["file:erp.secret"]},
            "swiftparcel": {
                "kind": "carrier",
                "webhook_secrets": ["file:swiftparcel.secret"],
                "mapping": "swift.yaml",
            },
        },
        "endpoints": {
            "portal": {"url": f"{receiver_url}/hooks", "max_attempts": 1},
            "odoo": {
                "kind": "odoo",
                "url": "http://127.0.0.1:8069",
                "milestones": [],
                "options": {"database": "demo", "api_key": "env:INTERMODAL_E2E_ODOO_KEY"},
            },
        },
        "delivery": {"max_attempts": 1, "breaker_failures": 1000},
        "tower": {
            "users": {
                OPERATOR[0]: {"role": "operator", "password": "file:olga.password"},
                VIEWER[0]: {"role": "viewer", "password": "file:victor.password"},
            }
        },
    }
    (folder / "intermodal.yaml").write_text(yaml.safe_dump(config))
    os.environ.setdefault("INTERMODAL_E2E_ODOO_KEY", secrets.token_hex(16))
    return load_config(folder / "intermodal.yaml")


def _scenario(hub: TowerHub) -> None:
    """What the pages will show; every step goes through the hub's public API."""
    hub.receiver.fail_next = 10_000
    hub.receiver.fail_status = 422  # the portal refuses: each command dead-letters at once
    steps: list[tuple[str, Any, str]] = [
        (
            "erp",
            upserted(
                "odoo:sale.order:17:upserted",
                "SHP-1001",
                {
                    "odoo_sale_order": "S01001",
                    "customer_reference": "PO-7781",
                    "carrier_tracking_numbers": ["1Z999AA10123456784"],
                },
            ),
            "w-up-1001",
        ),
        ("acme", milestone("e-1001-p", "SHP-1001", "picked_up", "2026-11-29T08:00:00Z"), "w1"),
        (
            "acme",
            milestone("e-1001-d", "SHP-1001", "delivered", "2026-11-29T15:00:00Z", reason=HOSTILE),
            "w2",
        ),
        # A scan from before delivery that arrives after it: late.
        ("acme", milestone("e-1001-t", "SHP-1001", "picked_up", "2026-11-29T07:30:00Z"), "w3"),
        # The same event again under a new webhook id: duplicate.
        ("acme", milestone("e-1001-p", "SHP-1001", "picked_up", "2026-11-29T08:00:00Z"), "w4"),
        # A TMS claiming a delivery it does not own: violation.
        ("rogue", milestone("r-1001-d", "SHP-1001", "delivered", "2026-11-29T14:00:00Z"), "w5"),
        (
            "acme",
            upserted("up-1002", "SHP-1002", {"odoo_sale_order": "S01002"}, lane("Fremont", "Reno")),
            "w-up-1002",
        ),
        ("acme", milestone("e-1002-p", "SHP-1002", "picked_up", "2026-11-29T09:00:00Z"), "w6"),
        ("acme", milestone("e-1003-p", "SHP-1003", "picked_up", "2026-11-29T10:00:00Z"), "w7"),
        # A carrier's own JSON with a status code its mapping does not know: quarantine.
        (
            "swiftparcel",
            {
                "kind": "tracking",
                "shipment": {"reference": "SHP-1003", "tracking": "SP123"},
                "updates": [
                    {
                        "update_id": "u-9",
                        "code": "XX9",
                        "occurred": "2026-11-29T11:00:00Z",
                        "detail": HOSTILE,
                    }
                ],
            },
            "w8",
        ),
    ]
    for partner, payload, msg_id in steps:
        answer = hub.webhook(payload, msg_id, partner)
        assert answer.status_code in (200, 202), answer.text
    wait_until(lambda: hub.count(inbox, inbox.c.status == "pending") == 0)
    wait_until(lambda: hub.count(dead_letters) >= 3)
    hub.receiver.fail_next = 0  # the portal is fixed: replays will now be delivered
    now = utcnow()
    with hub.store.write() as conn:
        conn.execute(
            cases.insert(),
            [
                _case(
                    "case-1", "SHP-1001", "sla_breach", "customer-service", now, 30, "late by 2h"
                ),
                _case("case-2", "SHP-1002", "carrier_exception", "operations", now, 5, HOSTILE),
                _case("case-3", "SHP-1003", "customs_hold", "customs", now, 60, "docs missing"),
                _case("case-4", "SHP-1003", "billing_dispute", "finance", now, 90, "rate"),
            ],
        )
        conn.execute(
            reconciliation_runs.insert().values(
                run_id="recon-1",
                started_at=iso(now),
                finished_at=iso(now),
                status="finished",
                figures=orjson.dumps(
                    {
                        "delivered_not_invoiced": {"count": 1, "value": 120.5, "currency": "EUR"},
                        "matched": {"count": 2, "value": 340.0, "currency": "EUR"},
                    }
                ).decode(),
                report=orjson.dumps(
                    {"delivered_not_invoiced": [{"shipment": "SHP-1001", "note": HOSTILE}]}
                ).decode(),
            )
        )


def _case(
    case_id: str, subject: str, kind: str, team: str, now: Any, minutes: int, reason: str
) -> dict[str, Any]:
    from datetime import timedelta

    return {
        "case_id": case_id,
        "subject": subject,
        "kind": kind,
        "team": team,
        "status": "open",
        "reason": reason,
        "opened_at": iso(now - timedelta(minutes=minutes)),
        "detail": orjson.dumps({"opened_by": "scenario", "note": reason}).decode(),
    }


@contextlib.contextmanager
def tower_hub(folder: Path, database: str) -> Iterator[TowerHub]:
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as receiver_url:
        settings = _config(folder, database, receiver_url)
        with running_hub(settings) as url:
            store = open_store(settings.hub.database, migrate=False)
            hub = TowerHub(
                url,
                settings,
                store,
                receiver,
                {
                    name: webhook_key(Secret((folder / f"{name}.secret").read_text()))
                    for name in PARTNERS
                },
            )
            _scenario(hub)
            try:
                yield hub
            finally:
                store.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TowerHub]:
    """The scenario hub, once per backend: the tower's queries run on both stores."""
    with contextlib.ExitStack() as stack:
        folder = tmp_path_factory.mktemp("tower")
        database = stack.enter_context(backend_database(request.param, folder))
        yield stack.enter_context(tower_hub(folder, database))


def announce(config: pytest.Config, line: str) -> None:
    """Print a line on the terminal even under -q and output capture: installing
    packages is not something to do quietly on somebody's machine."""
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if reporter is not None:
            reporter.write_line(line, bold=True)
        else:
            print(line, file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def chromium(request: pytest.FixtureRequest) -> Path:
    """Debian's Chromium, installed with apt when missing (see tests/e2e/chromium.py).
    The parallel suite's workers take turns on a file lock: one installs, the others
    then find it (two apt-get runs at once would fail on dpkg's own lock)."""
    with (Path(tempfile.gettempdir()) / "intermodal-tests-chromium.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return ensure_chromium(functools.partial(announce, request.config))
        except ChromiumUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
