"""The demo's world: the Odoo test server, the partner simulators and the hub, on loopback.

Everything runs in this one process (servers in threads), so `intermodal demo` needs no
other command, no Docker and no network beyond 127.0.0.1. The hub is configured the way
a user would configure it: a YAML file written to the demo folder (read it to see how the
partners, endpoints and flows are declared), with every secret an `env:` reference to a
value generated for this run.

Who is who:
- **Odoo** (`intermodal_sim.odoo`): the sales team's orders; its automation rule sends
  confirmed orders to the hub (change capture); the hub writes pickings, chatter notes,
  activities and invoices back.
- **tms** (`intermodal_sim.tms`): the dispatch system and its trucks. The hub tenders each
  order to it as an X12 204; it answers 990s, reports 214s and invoices with 210s.
- **wms** (`intermodal_sim.wms`): the warehouse that picks, packs and ships the orders
  with goods (most orders are freight alone: services, no delivery in Odoo). It reports in
  its own JSON, mapped by examples/partners/wms/: the quantities it shipped validate the
  Odoo delivery (the Odoo endpoint takes validations from it alone), and one order it
  picks short leaves a backorder in Odoo.
- **customs-broker** (`intermodal_sim.customs`): the hub files every cross-border shipment
  with it (the customs role); it releases them, holds one for a while first, and reports in
  its own JSON, mapped by examples/partners/customs/.
- **rating** and **epod**: the tariff that quotes each order (provisional charges) and the
  drivers' proof-of-delivery app; both post canonical events with a token, and the app
  posts some signed delivery papers as documents (a PDF, or a photo the hub reads by OCR).
  The TMS posts some of its freight invoices as PDFs besides its 210s.
- **portal** (`intermodal_sim.portal`): the customer's endpoint for notifications; it
  checks every signature.
- **telematics** (`demo/fleet.py`): the trucks' devices, through a telematics provider
  (examples/partners/telematics/): each load's truck on its last leg, on the hub's clock.

The `foresight` section turns on arrival times, early warnings, anomaly detection and the
exception classifier, with their intervals and thresholds scaled to the compressed day
(`foresight_config`): what an operator would set for a day that lasts minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from intermodal.config import Settings, load_config
from intermodal.ingress.odoo_capture import automation_rule
from intermodal.security.secrets import new_webhook_secret
from intermodal_sim.customs.app import CustomsScript, CustomsSimulator
from intermodal_sim.demo.fleet import Fleet
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.partner import HubLink, webhook_key_of
from intermodal_sim.portal.app import Portal
from intermodal_sim.telematics import partner_config
from intermodal_sim.testing import serve_in_thread
from intermodal_sim.tms.app import Load, TmsScript, TmsSimulator
from intermodal_sim.wms.app import Order as WmsOrder
from intermodal_sim.wms.app import WmsScript, WmsSimulator

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "partners"
"""The worked partner examples (mappings) the demo's partners use, when run from a checkout."""

# The TMS's 990 acceptance asserts `booked` too: both it and Odoo are its systems of record.
TMS_MILESTONES = [
    "booked",
    "dispatched",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
]


def _port(preferred: int) -> int:
    """The preferred port when it is free (stable URLs for a newcomer), else any free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Outage:
    """An ASGI wrapper that makes a partner answer 503 while `down` is set: the carrier
    outage of the day, seen by the hub exactly as a real one (retries, an open breaker).
    The partner's own reports wait meanwhile (`HeldLink`): a system that is down sends
    nothing either."""

    def __init__(self, app: ASGIApp, down: threading.Event | None = None) -> None:
        self.app = app
        self.down = down or threading.Event()
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.down.is_set() and not scope["path"].startswith("/_sim"):
            self.refused += 1
            response = JSONResponse({"error": "service unavailable"}, 503, {"retry-after": "1"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class HeldLink(HubLink):
    """A partner's link to the hub that holds its reports while the partner is down."""

    down: threading.Event | None = None

    async def _send(self, *args: Any, **kwargs: Any) -> Any:
        # a threading.Event set from another thread: polled, as no asyncio.Event can be
        while self.down is not None and self.down.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return await super()._send(*args, **kwargs)


class DemoTms(TmsSimulator):
    """The TMS, whose trucks carry telematics units: a truck's unit reports from the dock
    (`Fleet.leaving`) as the TMS is about to report the load picked up."""

    fleet: Fleet | None = None
    fleet_link: HubLink | None = None

    async def report_status(self, load: Load, step: str, at: Any, again: bool = False) -> Any:
        if step == "picked_up" and not again and self.fleet and self.fleet_link:
            # while the TMS is down its dispatcher cannot release the load: the truck waits
            down = getattr(self.link, "down", None)
            while down is not None and down.is_set():  # noqa: ASYNC110 - a thread's Event
                await asyncio.sleep(0.05)
            faults = self.script.faults_for(load.shipment_key)
            await self.fleet.leaving(
                self.fleet_link, load.shipment_key, load.truck, load.destination, faults, at
            )
        return await super().report_status(load, step, at, again)


class DemoWms(WmsSimulator):
    """The warehouse: the goods it ships leave on the load's truck, whose unit reports
    from then on (`Fleet.leaving`), before the TMS reports its own pickup; the truck's
    number is the one the TMS will dispatch, its fixes name the shipment (the TMS has not
    assigned the truck yet)."""

    fleet: Fleet | None = None
    fleet_link: HubLink | None = None
    tms_script: TmsScript | None = None
    head_start_seconds: float = 0.0
    """How long before the TMS's pickup the warehouse ships (the day's script says)."""

    async def confirm(self, order: WmsOrder, stage: str, extra: dict[str, Any]) -> None:
        if stage == "SHIPPED" and self.fleet and self.fleet_link and self.tms_script:
            key = order.shipment_key
            _, truck = self.tms_script.crew(key)
            # the time the confirmation will carry (partner.py `StepClock.tick`: this
            # second, or a second after the order's last one): the fix must not be older
            now = datetime.now(UTC)
            at = now.replace(microsecond=0)
            last = self.clock.last.get(key)
            if last is not None and at <= last:
                at = last + timedelta(seconds=1)
            await self.fleet.leaving(
                self.fleet_link, key, truck, None, self.tms_script.faults_for(key),
                max(now, at), head_start=self.head_start_seconds, names_shipment=True,
            )  # fmt: skip
        await super().confirm(order, stage, extra)


@dataclass
class World:
    """The running pieces and how to reach them."""

    folder: Path
    settings: Settings
    hub_url: str
    odoo: RunningSim
    tms: TmsSimulator
    tms_url: str
    tms_outage: Outage
    customs: CustomsSimulator
    customs_url: str
    portal: Portal
    portal_url: str
    fleet: Fleet
    env: dict[str, str]
    wms: DemoWms | None = None
    wms_url: str = ""

    def secret(self, name: str) -> str:
        return self.env[name]


def demo_config(
    folder: Path,
    odoo: RunningSim,
    urls: dict[str, str],
    hub_port: int,
    day_seconds: float,
    unit_seconds: float,
    orders: int = 120,
) -> dict[str, Any]:
    """The hub's configuration for the demo, as a user would write it.

    The service level's expectations are scaled to the script's unit (day.py: a load
    takes about a third of it), so SLA timers fire within the run: a stalled load
    breaches its 'delivered by' time and the others do not. Reconciliation runs on a
    schedule scaled to the day, in the demo's currency; its grace (how long a delivered
    shipment may wait for its invoice) is a tenth of the day, the compressed version of
    'a couple of hours'.
    """

    def share(fraction: float) -> str:
        return f"{max(2, round(unit_seconds * fraction))}s"

    return {
        "hub": {
            "database": f"sqlite:///{folder / 'intermodal.db'}",
            "host": "127.0.0.1",
            "port": hub_port,
            "admin_token": "env:DEMO_ADMIN_TOKEN",
            # A demo on loopback, watched from a browser: /metrics without credentials.
            # Elsewhere a scrape is a read like any other (admin token or tower session).
            "metrics_public": True,
        },
        "partners": {
            "odoo": {
                "kind": "odoo",
                "tokens": [{"token": "env:DEMO_ODOO_TOKEN", "scopes": ["events:write"]}],
                "owns": ["booked", "cancelled"],
            },
            "tms": {
                "kind": "tms",
                "webhook_secrets": ["env:DEMO_TMS_SECRET"],
                "owns": TMS_MILESTONES,
                "mapping": str(EXAMPLES / "tms" / "mapping_x12.yaml"),
                "edi": {"format": "x12", "mode": "reject"},
                "documents": {},  # its freight invoices as PDFs, beside the 210s
            },
            "wms": {
                "kind": "wms",
                "webhook_secrets": ["env:DEMO_WMS_SECRET"],
                # what left the warehouse: with the carrier, the pickup's system of record
                "owns": ["picked_up"],
                "mapping": str(EXAMPLES / "wms" / "mapping.yaml"),
            },
            "customs-broker": {
                "kind": "customs",
                "webhook_secrets": ["env:DEMO_CUSTOMS_SECRET"],
                "owns": ["customs_hold", "customs_released"],
                "mapping": str(EXAMPLES / "customs" / "mapping.yaml"),
            },
            "rating": {
                "kind": "billing",
                "tokens": [{"token": "env:DEMO_RATING_TOKEN", "scopes": ["events:write"]}],
            },
            "epod": {
                "kind": "carrier",
                "tokens": [{"token": "env:DEMO_EPOD_TOKEN", "scopes": ["events:write"]}],
                "documents": {},  # the signed delivery papers, photographed or as PDFs
            },
            "telematics": {
                **partner_config(
                    EXAMPLES, "env:DEMO_TELEMATICS_SECRET", "env:DEMO_TELEMATICS_TOKEN"
                ),
                # the trucks' last legs are short: a track point every 100 m moving
                "positions": {
                    "track_interval": f"{max(1, round(unit_seconds * 0.05))}s",
                    "track_distance_km": 0.1,
                },
            },
        },
        "endpoints": {
            "odoo": {
                "kind": "odoo",
                "url": odoo.url,
                "options": {
                    "database": odoo.db,
                    "api_key": "env:DEMO_ODOO_API_KEY",
                    "protocol": "json2",
                    # the warehouse knows what left: its report validates the deliveries,
                    # and what it did not ship waits in a backorder
                    "validate_from": ["wms"],
                    "backorder": "create",
                },
                "batch_size": 200,
            },
            "tms-tenders": {"kind": "edi", "url": f"{urls['tms']}/edi", "milestones": []},
            "customs-filings": {"url": f"{urls['customs']}/v1/filings", "milestones": []},
            "customer-portal": {
                "url": f"{urls['portal']}/hooks",
                "secret": "env:DEMO_PORTAL_SECRET",
                "milestones": [],
            },
        },
        "delivery": {
            "backoff_base_seconds": 0.2,
            "backoff_max_seconds": 3,
            "max_attempts": 60,
            "breaker_failures": 5,
            "breaker_reset_seconds": 2,
            "lease_seconds": 30,
        },
        "workflows": {
            "roles": {
                "odoo": "odoo",
                "tms": "tms-tenders",
                "tms_mode": "x12",
                "notify": "customer-portal",
                "customs": "customs-filings",
            },
            "teams": {"sla_breach": "control-tower", "customs_hold": "customs-desk"},
            "service_levels": {
                "standard": {"expected": {"picked_up": share(0.375), "delivered": share(0.69)}}
            },
            "default_service_level": "standard",
            "billing": {"post": True, "hold_on_dispute": True, "currency": "USD"},
            "tender_x12": {"sender_id": "INTERMODAL", "receiver_id": "DEMOTMS", "scac": "DTMS"},
            "timer_poll_seconds": 0.5,
        },
        "reconcile": {
            "interval_seconds": max(10.0, round(day_seconds / 2, 1)),
            "grace_hours": round(day_seconds * 0.1 / 3600, 6),
            "currency": "USD",
        },
        "tower": {"users": {"demo": {"role": "operator", "password": "env:DEMO_TOWER_PASSWORD"}}},
        "foresight": foresight_config(unit_seconds, orders),
    }


def foresight_config(unit_seconds: float, orders: int) -> dict[str, Any]:
    """Arrival times, early warnings, anomalies and the classifier for a day of minutes.

    The defaults suit a day of hours: refresh ETAs every minute, call a partner quiet after
    15 minutes, a dwell long after an hour. Here they are shares of the script's unit (a
    load takes about a third of it): an ETA refresh about every second, a change worth
    telling the customer at a tenth of the unit, a partner quiet after a twelfth of it (the
    TMS's outage lasts a seventh; the loads it held then move in step, with gaps of a
    twentieth), a shipment standing at a milestone for a quarter of it. No past day to
    learn what is usual from, so the detectors judge from the first message
    (`min_history_hours: 0`); a partner is judged quiet only once it has sent more than
    two messages per order of the day (the TMS by midday; not the tariff's quote, freight
    and fuel, per order, nor the broker's two answers per filing: with no past day, a
    partner whose day's work is done would look quiet)."""

    def minutes(fraction: float) -> float:
        return round(unit_seconds * fraction / 60, 4)

    every = max(1.0, round(unit_seconds * 0.005, 1))
    judged = max(20, 2 * orders + 1)
    return {
        "eta": {
            "refresh_seconds": every,
            "change_minutes": minutes(0.1),
            "model": {"retrain_hours": 24},
        },
        # p50: warn when the ETA itself passes the deadline (sooner, less sure than p10)
        "warnings": {
            "confidence": "p50",
            "open_after": 2,
            "close_margin_minutes": minutes(0.02),
            "close_after": 2,
        },
        "anomalies": {
            "interval_seconds": max(0.25, round(unit_seconds * 0.004, 2)),
            "history_days": 1,
            "min_history_hours": 0,
            "quiet": {
                "min_gap_minutes": minutes(0.08),
                "min_expected": 0,  # no past day says when a partner is usually quiet
                "min_messages": judged,
                "sample": judged,
            },
            "bursts": {
                "window_minutes": minutes(0.05),
                "z": 3,
                "min_count": 3,
                "min_windows": 3,
            },
            "dwell": {"min_dwell_minutes": minutes(0.25), "min_samples": 5},
            "order": {"window_minutes": minutes(0.1), "min_support": 5},
        },
        "classify": {"interval_seconds": max(0.5, round(unit_seconds * 0.004, 1))},
    }


@contextlib.contextmanager
def running_world(
    folder: Path,
    day_seconds: float,
    unit_seconds: float,
    tms_script: TmsScript,
    customs_script: CustomsScript,
    hub_port: int = 8080,
    odoo_port: int = 8069,
    orders: int = 120,
    seed: int = 7,
    wms_script: WmsScript | None = None,
) -> Iterator[World]:
    """Start Odoo, the partner simulators and the hub; stop them all on exit.

    The demo folder is emptied first: every run starts from a clean day.
    """
    from intermodal.api.app import create_app

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)  # its databases hold the day's freight
    env = {
        "DEMO_ODOO_TOKEN": secrets.token_urlsafe(24),
        "DEMO_TMS_SECRET": new_webhook_secret(),
        "DEMO_CUSTOMS_SECRET": new_webhook_secret(),
        "DEMO_RATING_TOKEN": secrets.token_urlsafe(24),
        "DEMO_EPOD_TOKEN": secrets.token_urlsafe(24),
        "DEMO_PORTAL_SECRET": new_webhook_secret(),
        "DEMO_TELEMATICS_SECRET": new_webhook_secret(),
        "DEMO_TELEMATICS_TOKEN": secrets.token_urlsafe(24),
        "DEMO_WMS_SECRET": new_webhook_secret(),
        "DEMO_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "DEMO_TOWER_PASSWORD": secrets.token_urlsafe(9),
    }
    down = threading.Event()
    tms_link = HeldLink(None, "tms", key=webhook_key_of(env["DEMO_TMS_SECRET"]), down=down)
    tms = DemoTms(tms_script, tms_link)
    customs_link = HubLink(None, "customs-broker", key=webhook_key_of(env["DEMO_CUSTOMS_SECRET"]))
    customs = CustomsSimulator(customs_script, customs_link)
    portal = Portal(keys=(webhook_key_of(env["DEMO_PORTAL_SECRET"]),))
    wms_link = HubLink(None, "wms", key=webhook_key_of(env["DEMO_WMS_SECRET"]))
    wms = DemoWms(wms_script or WmsScript(), wms_link)
    tms_outage = Outage(tms.app(), down)
    # The trucks' units: one link for the fleet's ticks, one for the TMS's thread (a link
    # keeps one HTTP client per event loop).
    telematics_key = webhook_key_of(env["DEMO_TELEMATICS_SECRET"])
    fleet_link = HubLink(None, "telematics", key=telematics_key)
    tms.fleet_link = HubLink(None, "telematics", key=telematics_key)
    step = tms_script.step_delay_ms / 1000
    tms.fleet = fleet = Fleet(
        fleet_link,
        seed,
        step_seconds=step,
        tick_seconds=min(2.0, max(0.5, unit_seconds * 0.01)),
        linger_seconds=unit_seconds * 0.1,
    )
    numbers = Counter(tms_script.crew(key)[1] for key in tms_script.linehauls)  # every load
    fleet.shared = {number for number, loads in numbers.items() if loads > 1}
    wms.fleet, wms.tms_script = fleet, tms_script
    wms.fleet_link = HubLink(None, "telematics", key=telematics_key)
    with contextlib.ExitStack() as stack:
        odoo = stack.enter_context(
            running_sim(storage=str(folder / "odoo.db"), port=_port(odoo_port))
        )
        env["DEMO_ODOO_API_KEY"] = odoo.api_key
        os.environ.update(env)
        tms_url = stack.enter_context(serve_in_thread(tms_outage))
        customs_url = stack.enter_context(serve_in_thread(customs.app()))
        portal_url = stack.enter_context(serve_in_thread(portal.app()))
        wms_url = stack.enter_context(serve_in_thread(wms.app()))
        port = _port(hub_port)
        urls = {"tms": tms_url, "customs": customs_url, "portal": portal_url}
        config = demo_config(folder, odoo, urls, port, day_seconds, unit_seconds, orders)
        path = folder / "intermodal.yaml"
        path.write_text(
            "# Written by `intermodal demo`: the hub's configuration for this run.\n"
            + yaml.safe_dump(config, sort_keys=False),
            encoding="utf-8",
        )
        settings = load_config(path)
        hub_url = stack.enter_context(serve_in_thread(create_app(settings), port=port))
        tms_link.hub_url = hub_url
        customs_link.hub_url = hub_url
        fleet_link.hub_url = tms.fleet_link.hub_url = wms.fleet_link.hub_url = hub_url
        wms_link.hub_url = hub_url
        capture_url = f"{hub_url}/v1/odoo/odoo/changes?token={env['DEMO_ODOO_TOKEN']}"
        _capture_odoo_orders(odoo, capture_url)
        yield World(
            folder=folder,
            settings=settings,
            hub_url=hub_url,
            odoo=odoo,
            tms=tms,
            tms_url=tms_url,
            tms_outage=tms_outage,
            customs=customs,
            customs_url=customs_url,
            portal=portal,
            portal_url=portal_url,
            fleet=fleet,
            env=env,
            wms=wms,
            wms_url=wms_url,
        )


def _capture_odoo_orders(odoo: RunningSim, url: str) -> None:
    """Odoo's automation rule that sends confirmed (and cancelled) orders to the hub."""
    response = httpx.post(
        f"{odoo.url}/__sim/webhooks", json=automation_rule("sale.order", url), timeout=10
    )
    response.raise_for_status()
