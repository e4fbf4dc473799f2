"""One hub wired to the Odoo test server, the TMS simulator and a customer endpoint, all on
loopback over real HTTP, for the order-to-cash story tests.

Odoo's confirmed order reaches the hub through an automation-rule webhook (change capture),
the dispatch job goes to the TMS simulator, whose JSON webhooks (tender response, statuses)
come back through its mapping; the carrier's charges and proof of delivery are posted to
`/v1/events` as the carrier would; Odoo is then read back to check its records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from intermodal.config import Settings
from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.ingress.odoo_capture import automation_rule
from intermodal.security.secrets import Secret
from intermodal.store import Store, open_store
from intermodal.store.tables import cases, dead_letters, outbox, shipments
from intermodal_sim.customs.app import CustomsScript, CustomsSimulator
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.partner import HubLink, webhook_key_of
from intermodal_sim.testing import Receiver, free_port, running_hub, serve_in_thread, wait_until
from intermodal_sim.tms.app import TmsScript, TmsSimulator
from tests.conftest import new_secret

ROOT = Path(__file__).parents[2]
ODOO_TOKEN = "odoo-capture-token-0123456789abcdef"
CARRIER_TOKEN = "carrier-events-token-0123456789abcd"
CUSTOMS_TOKEN = "customs-broker-token-0123456789abcd"
ADMIN_TOKEN = "story-admin-token-0123456789abcdef"


@dataclass
class Story:
    hub: str
    odoo: RunningSim
    tms: TmsSimulator
    portal: Receiver
    store: Store
    tms_port: int
    stack: contextlib.ExitStack
    broker: CustomsSimulator
    broker_url: str

    def start_tms(self) -> None:
        """Bring the TMS up (a story that starts with it down)."""
        self.stack.enter_context(serve_in_thread(self.tms.app(), port=self.tms_port))

    # -- Odoo --------------------------------------------------------------------------
    def odoo_call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            async with httpx.AsyncClient() as http:
                client = OdooClient(
                    Connection(self.odoo.url, self.odoo.db, Secret(self.odoo.api_key)), http
                )
                return await client.call(model, method, *args, **kwargs)

        return asyncio.run(call())

    def read(self, model: str, domain: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        rows = self.odoo_call(model, "search_read", domain=domain, fields=fields,
                              context={"active_test": False})  # fmt: skip
        return list(rows)

    def confirm_order(
        self, key: str, customer_ref: str = "AZ-001", goods: dict[str, float] | None = None
    ) -> int:
        """Create and confirm a sale order of one FCL40 (a service) for the customer (by its
        ref), with goods that make a delivery in Odoo (3 crates unless `goods` says: {}
        for an order of services only, which has none)."""
        (partner,) = self.read("res.partner", [["ref", "=", customer_ref]], ["id"])
        wanted = {"FCL40": 1.0, **({"CRATE": 3.0} if goods is None else goods)}
        products = {
            p["default_code"]: p["id"]
            for p in self.read("product.product", [["default_code", "in", list(wanted)]],
                               ["default_code"])
        }  # fmt: skip
        lines = [[0, 0, {"product_id": products[code], "product_uom_qty": qty}]
                 for code, qty in wanted.items()]  # fmt: skip
        (order,) = self.odoo_call(
            "sale.order",
            "create",
            vals_list=[{"partner_id": partner["id"], "client_order_ref": key,
                        "order_line": lines}],
        )  # fmt: skip
        self.odoo_call("sale.order", "action_confirm", [order])
        return int(order)

    # -- the carrier -------------------------------------------------------------------
    def carrier_sends(self, *events: dict[str, Any], token: str = CARRIER_TOKEN) -> None:
        response = httpx.post(
            f"{self.hub}/v1/events",
            content=orjson.dumps(list(events)),
            headers={"authorization": f"bearer {token}", "content-type": "application/json"},
        )
        assert response.status_code == 202, response.text

    def broker_sends(self, *events: dict[str, Any]) -> None:
        self.carrier_sends(*events, token=CUSTOMS_TOKEN)

    # -- the hub's store ---------------------------------------------------------------
    def commands(self, kind: str, subject: str) -> list[Any]:
        with self.store.read() as conn:
            return list(
                conn.execute(
                    select(outbox).where(outbox.c.kind == kind, outbox.c.subject == subject)
                ).all()
            )

    def cases(self, subject: str) -> list[Any]:
        with self.store.read() as conn:
            return list(
                conn.execute(
                    select(cases).where(cases.c.subject == subject).order_by(cases.c.seq)
                ).all()
            )

    def dead(self) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(select(dead_letters)).all())

    def document(self, key: str) -> dict[str, Any]:
        with self.store.read() as conn:
            raw = conn.execute(select(shipments.c.document).where(shipments.c.key == key)).scalar()
        return orjson.loads(raw) if raw else {}

    def wait_settled(self, key: str) -> None:
        """Until the shipment holds a proof of delivery and only final charges (applied)."""

        def settled() -> bool:
            doc = self.document(key)
            charges = [c["data"]["status"] for c in (doc.get("charges") or {}).values()]
            return "pod" in doc and bool(charges) and set(charges) == {"final"}

        wait_until(settled, timeout=30)

    def state(self, key: str) -> str | None:
        response = httpx.get(
            f"{self.hub}/v1/shipments/{key}", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        return response.json().get("state") if response.status_code == 200 else None

    def wait_delivered(self, kind: str, subject: str, timeout: float = 30.0) -> Any:
        def delivered() -> bool:
            rows = self.commands(kind, subject)
            return bool(rows) and all(r.status == "delivered" for r in rows)

        delivered.__name__ = f"{kind} for {subject} delivered"
        wait_until(delivered, timeout=timeout)
        return self.commands(kind, subject)

    def wait_quiet(self, timeout: float = 30.0) -> None:
        """Until no command is pending (every one delivered or dead)."""

        def quiet() -> bool:
            with self.store.read() as conn:
                return conn.execute(select(outbox.c.seq).where(outbox.c.status == "pending")
                                    .limit(1)).first() is None  # fmt: skip

        wait_until(quiet, timeout=timeout)


def story_settings(
    make_settings: Callable[..., Settings],
    db_url: str,
    odoo: RunningSim,
    tms_url: str,
    portal_url: str,
    tms_secret: str,
    broker_url: str,
    broker_secret: str,
    billing: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    tms_mode: str = "rest",
    workflows: dict[str, Any] | None = None,
) -> Settings:
    tms_partner: dict[str, Any] = {
        "kind": "tms",
        "webhook_secrets": ["env:STORY_TMS_SECRET"],
        "mapping": str(ROOT / "examples/partners/tms/mapping.yaml"),
    }
    tms_endpoint: dict[str, Any] = {"url": f"{tms_url}/v1/jobs"}
    if tms_mode == "x12":  # 204s to the TMS's /edi, its 990s and 214s to /v1/edi/tms
        tms_partner["mapping"] = str(ROOT / "examples/partners/tms/mapping_x12.yaml")
        tms_partner["edi"] = {"format": "x12", "mode": "reject"}
        tms_endpoint = {"kind": "edi", "url": f"{tms_url}/edi", "milestones": []}
    return make_settings(
        {
            "hub": {"database": db_url, "admin_token": "env:STORY_ADMIN"},
            "partners": {
                "odoo": {"kind": "odoo", "tokens": [{"token": "env:STORY_ODOO_TOKEN"}]},
                "tms": tms_partner,
                "carrier": {"kind": "carrier", "tokens": [{"token": "env:STORY_CARRIER"}]},
                "broker": {"kind": "customs", "tokens": [{"token": "env:STORY_BROKER"}]},
                "customs": {  # the customs broker simulator, through its example mapping
                    "kind": "customs",
                    "webhook_secrets": ["env:STORY_CUSTOMS_SECRET"],
                    "mapping": str(ROOT / "examples/partners/customs/mapping.yaml"),
                },
            },
            "endpoints": {
                "odoo": {
                    "kind": "odoo",
                    "url": odoo.url,
                    "batch_size": 100,
                    "options": {
                        "database": odoo.db,
                        "api_key": "env:STORY_ODOO_KEY",
                        "linger_ms": 5,
                    },
                },
                "tms-jobs": tms_endpoint,
                "portal": {"url": f"{portal_url}/hooks"},
                "customs-filings": {"url": f"{broker_url}/v1/filings"},
            },
            "delivery": {
                "backoff_base_seconds": 0.1,
                "backoff_max_seconds": 1.0,
                "max_attempts": 100,
                "breaker_failures": 1000,
                **(delivery or {}),
            },
            "workflows": {
                "roles": {
                    "odoo": "odoo",
                    "tms": "tms-jobs",
                    "notify": "portal",
                    "customs": "customs-filings",
                    "tms_mode": tms_mode,
                },
                "tender_x12": {"sender_id": "INTERMODAL", "receiver_id": "SIMT", "scac": "SIMT"},
                "billing": {"post": True, "currency": "USD", **(billing or {})},
                "timer_poll_seconds": 0.2,
                **(workflows or {}),
            },
        },
        env={
            "STORY_ODOO_TOKEN": ODOO_TOKEN,
            "STORY_TMS_SECRET": tms_secret,
            "STORY_CARRIER": CARRIER_TOKEN,
            "STORY_BROKER": CUSTOMS_TOKEN,
            "STORY_CUSTOMS_SECRET": broker_secret,
            "STORY_ODOO_KEY": odoo.api_key,
            "STORY_ADMIN": ADMIN_TOKEN,
        },
    )


@contextlib.contextmanager
def story(
    make_settings: Callable[..., Settings],
    db_url: str,
    script: TmsScript | None = None,
    tms_up: bool = True,
    broker_script: CustomsScript | None = None,
    **options: Any,
) -> Iterator[Story]:
    tms_secret = new_secret()
    portal = Receiver()
    link = HubLink(None, "tms", key=webhook_key_of(tms_secret), backoff_seconds=0.1)
    tms = TmsSimulator(script or TmsScript(reply="json"), link)
    broker_secret = new_secret()
    broker_link = HubLink(None, "customs", key=webhook_key_of(broker_secret), backoff_seconds=0.1)
    broker = CustomsSimulator(broker_script or CustomsScript(), broker_link)
    tms_port = free_port()
    tms_url = f"http://127.0.0.1:{tms_port}"
    with contextlib.ExitStack() as stack:
        odoo = stack.enter_context(running_sim())
        portal_url = stack.enter_context(serve_in_thread(portal.app()))
        broker_url = stack.enter_context(serve_in_thread(broker.app()))
        if tms_up:
            stack.enter_context(serve_in_thread(tms.app(), port=tms_port))
        settings = story_settings(
            make_settings, db_url, odoo, tms_url, portal_url, tms_secret, broker_url,
            broker_secret, **options,
        )  # fmt: skip
        with running_hub(settings) as hub:
            link.hub_url = hub
            broker_link.hub_url = hub
            rule = automation_rule("sale.order", f"{hub}/v1/odoo/odoo/changes?token={ODOO_TOKEN}")
            hook = httpx.post(f"{odoo.url}/__sim/webhooks", json=rule)
            assert hook.status_code < 300, hook.text
            store = open_store(db_url)
            try:
                yield Story(hub, odoo, tms, portal, store, tms_port, stack, broker, broker_url)
            finally:
                store.dispose()


def charge(key: str, code: str, kind: str, amount: str, status: str, eid: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "carrier",
        "type": "intermodal.charge.recorded",
        "subject": key,
        "time": now,
        "data": {"code": code, "kind": kind, "status": status,
                 "amount": {"amount": amount, "currency": "USD"}},
    }  # fmt: skip


def pod(key: str, eid: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "carrier",
        "type": "intermodal.pod.received",
        "subject": key,
        "time": now,
        "data": {"delivered_at": now, "signed_by": "R. Receiver"},
    }


def customs(key: str, state: str, eid: str, reason: str | None = None) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data: dict[str, Any] = {"state": state, "occurred_at": now, "broker": "Border Brokers"}
    if reason:
        data["reason"] = reason
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "broker",
        "type": "intermodal.customs.updated",
        "subject": key,
        "time": now,
        "data": data,
    }
