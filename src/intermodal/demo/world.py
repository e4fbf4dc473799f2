"""The demo's world: the Odoo test server, the partners and the hub, wired on loopback.

Everything runs in this one process (servers in threads), so `intermodal demo` needs no
other command, no Docker and no network beyond 127.0.0.1. The hub is configured the way
a user would configure it: a YAML file written to the demo folder (read it to see how the
partners are declared), with every secret an `env:` reference to a value generated for
this run and never printed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from intermodal.config import Settings, load_config
from intermodal.connectors.odoo.capture import CAPTURE_FIELDS
from intermodal.sim.odoo.testing import RunningSim, running_sim
from intermodal.testing import Receiver, serve_in_thread

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "partners"
"""The worked partner examples (mappings) the demo's carriers use, when run from a checkout."""

CARRIER_MILESTONES = ["picked_up", "in_transit", "out_for_delivery", "delivered", "delivery_failed"]


def _port(preferred: int) -> int:
    """The preferred port when it is free (stable URLs for a newcomer), else any free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class World:
    """The running pieces and how to reach them."""

    folder: Path
    settings: Settings
    hub_url: str
    odoo: RunningSim
    portal: Receiver
    portal_url: str
    env: dict[str, str]
    partners: dict[str, dict[str, Any]] = field(default_factory=dict)

    def secret(self, name: str) -> str:
        return self.env[name]


def demo_config(folder: Path, odoo: RunningSim, portal_url: str, hub_port: int) -> dict[str, Any]:
    """The hub's configuration for the demo, as a user would write it."""
    swift_mapping = EXAMPLES / "swiftparcel" / "mapping.yaml"
    ridgeline_mapping = EXAMPLES / "ridgeline" / "mapping.yaml"
    partners: dict[str, Any] = {
        "odoo": {
            "kind": "odoo",
            "tokens": [{"token": "env:DEMO_ODOO_TOKEN", "scopes": ["events:write"]}],
            "owns": ["booked", "dispatched", "cancelled"],
        },
        "swiftparcel": {
            "kind": "carrier",
            "webhook_secrets": ["env:DEMO_SWIFTPARCEL_SECRET"],
            "tokens": [{"token": "env:DEMO_SWIFTPARCEL_TOKEN", "scopes": ["events:write"]}],
            "owns": CARRIER_MILESTONES,
            "mapping": str(swift_mapping),
        },
        "ridgeline": {
            "kind": "carrier",
            "tokens": [{"token": "env:DEMO_RIDGELINE_TOKEN", "scopes": ["events:write"]}],
            "owns": CARRIER_MILESTONES,
            "mapping": str(ridgeline_mapping),
            "edi": {"format": "x12", "mode": "warn"},
        },
        "billing": {
            "kind": "billing",
            "tokens": [{"token": "env:DEMO_BILLING_TOKEN", "scopes": ["events:write"]}],
        },
        "customs-broker": {
            "kind": "customs",
            "tokens": [{"token": "env:DEMO_CUSTOMS_TOKEN", "scopes": ["events:write"]}],
            "owns": ["customs_hold", "customs_released"],
        },
    }
    return {
        "hub": {
            "database": f"sqlite:///{folder / 'intermodal.db'}",
            "host": "127.0.0.1",
            "port": hub_port,
            "admin_token": "env:DEMO_ADMIN_TOKEN",
        },
        "partners": partners,
        "endpoints": {
            "odoo": {
                "kind": "odoo",
                "url": odoo.url,
                "options": {
                    "database": odoo.db,
                    "api_key": "env:DEMO_ODOO_API_KEY",
                    "protocol": "json2",
                },
                "batch_size": 200,
                "rate_per_second": 50,
            },
            "customer-portal": {
                "url": f"{portal_url}/hooks",
                "secret": "env:DEMO_PORTAL_SECRET",
                "milestones": ["picked_up", "out_for_delivery", "delivered", "delivery_failed"],
            },
        },
        "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 5, "lease_seconds": 30},
    }


@contextlib.contextmanager
def running_world(folder: Path, hub_port: int = 8080, odoo_port: int = 8069) -> Iterator[World]:
    """Start Odoo, the partner endpoints and the hub; stop them all on exit.

    The demo folder is emptied first: every run starts from a clean day.
    """
    from intermodal.api.app import create_app

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    env = {
        "DEMO_ODOO_TOKEN": secrets.token_urlsafe(24),
        "DEMO_SWIFTPARCEL_SECRET": _secret(),
        "DEMO_SWIFTPARCEL_TOKEN": secrets.token_urlsafe(24),
        "DEMO_RIDGELINE_TOKEN": secrets.token_urlsafe(24),
        "DEMO_BILLING_TOKEN": secrets.token_urlsafe(24),
        "DEMO_CUSTOMS_TOKEN": secrets.token_urlsafe(24),
        "DEMO_PORTAL_SECRET": _secret(),
        "DEMO_ADMIN_TOKEN": secrets.token_urlsafe(24),
    }
    with contextlib.ExitStack() as stack:
        odoo = stack.enter_context(
            running_sim(storage=str(folder / "odoo.db"), port=_port(odoo_port))
        )
        env["DEMO_ODOO_API_KEY"] = odoo.api_key
        os.environ.update(env)
        portal = Receiver()
        portal_url = stack.enter_context(serve_in_thread(portal.app()))
        port = _port(hub_port)
        config = demo_config(folder, odoo, portal_url, port)
        path = folder / "intermodal.yaml"
        path.write_text(
            "# Written by `intermodal demo`: the hub's configuration for this run.\n"
            + yaml.safe_dump(config, sort_keys=False),
            encoding="utf-8",
        )
        settings = load_config(path)
        hub_url = stack.enter_context(serve_in_thread(create_app(settings), port=port))
        capture_url = f"{hub_url}/v1/odoo/odoo/changes?token={env['DEMO_ODOO_TOKEN']}"
        _capture_odoo_changes(odoo, capture_url)
        yield World(folder, settings, hub_url, odoo, portal, portal_url, env, config["partners"])


def _capture_odoo_changes(odoo: RunningSim, url: str) -> None:
    """Odoo's automation rules that send confirmed orders and validated pickings to the hub."""
    for model in ("sale.order", "stock.picking"):
        response = httpx.post(
            f"{odoo.url}/__sim/webhooks",
            json={
                "model": model,
                "trigger": "on_write",
                "trigger_fields": ["state"],
                "url": url,
                "fields": CAPTURE_FIELDS[model],
            },
            timeout=10,
        )
        response.raise_for_status()
