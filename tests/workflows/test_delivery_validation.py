"""A warehouse's report through the whole hub to the Odoo test server: its quantities
validate the order's delivery (a backorder for what was short, as the Odoo endpoint's
policy says), and what Odoo refuses comes back to the flows as an `odoo_refused` case
(flows/execution.yaml) instead of a dead letter. An order of services has no delivery:
its milestones go to the order alone and nothing waits for a picking."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import select

from intermodal.config import load_config
from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.security.secrets import Secret
from intermodal.store import Store, open_store
from intermodal.store.tables import cases, dead_letters, inbox, outbox
from intermodal_sim.odoo.stock import ZERO_QUANTITY
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.testing import running_hub, wait_until

WMS_TOKEN = "wms-events-token-0123456789abcdefgh"


class World:
    def __init__(self, hub: str, odoo: RunningSim, store: Store) -> None:
        self.hub, self.odoo, self.store = hub, odoo, store

    def odoo_call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            async with httpx.AsyncClient() as http:
                connection = Connection(self.odoo.url, self.odoo.db, Secret(self.odoo.api_key))
                return await OdooClient(connection, http).call(model, method, *args, **kwargs)

        return asyncio.run(call())

    def confirm(self, key: str, goods: dict[str, float]) -> int:
        codes = ["FTL", *goods]
        products = {
            p["default_code"]: p["id"]
            for p in self.odoo_call("product.product", "search_read",
                                    domain=[["default_code", "in", codes]],
                                    fields=["default_code"])
        }  # fmt: skip
        lines = [[0, 0, {"product_id": products["FTL"]}]] + [
            [0, 0, {"product_id": products[c], "product_uom_qty": q}] for c, q in goods.items()
        ]
        (order,) = self.odoo_call("sale.order", "create", vals_list=[
            {"partner_id": 9, "client_order_ref": key, "order_line": lines}])  # fmt: skip
        self.odoo_call("sale.order", "action_confirm", [order])
        return int(order)

    def pickings(self, order: int) -> list[dict[str, Any]]:
        return list(
            self.odoo_call("stock.picking", "search_read", domain=[["sale_id", "=", order]],
                           fields=["state", "backorder_id", "move_ids"], order="id asc")
        )  # fmt: skip

    def picked_up(self, key: str, quantities: dict[str, float] | None) -> None:
        data: dict[str, Any] = {"milestone": "picked_up", "occurred_at": "2026-11-23T10:00:00Z"}
        if quantities is not None:
            data["quantities"] = [{"product": p, "quantity": q} for p, q in quantities.items()]
        event = {"specversion": "1.0", "id": f"wms-{key}-shipped", "source": "wms",
                 "type": "intermodal.shipment.milestone", "subject": key,
                 "time": "2026-11-23T10:00:00Z", "data": data}  # fmt: skip
        response = httpx.post(
            f"{self.hub}/v1/events",
            content=orjson.dumps([event]),
            headers={"authorization": f"Bearer {WMS_TOKEN}", "content-type": "application/json"},
        )
        assert response.status_code == 202, response.text

    def settled(self, key: str) -> None:
        """Until every command of the shipment is delivered (none pending, none dead)."""

        def done() -> bool:
            with self.store.read() as conn:
                rows = conn.execute(select(outbox.c.status).where(outbox.c.subject == key)).all()
                dead = conn.execute(
                    select(dead_letters.c.seq).where(dead_letters.c.subject == key)
                ).all()
            assert not dead, dead
            return bool(rows) and all(r.status == "delivered" for r in rows)

        wait_until(done, timeout=30)

    def cases(self, key: str) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(select(cases).where(cases.c.subject == key)).all())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("validation")
    database = f"sqlite:///{folder / 'hub.db'}"
    with running_sim() as odoo, pytest.MonkeyPatch.context() as env:
        env.setenv("WV_WMS_TOKEN", WMS_TOKEN)
        env.setenv("WV_ODOO_KEY", odoo.api_key)
        config = {
            "hub": {"database": database},
            "partners": {
                "wms": {
                    "kind": "wms",
                    "tokens": [{"token": "env:WV_WMS_TOKEN"}],
                    "owns": ["picked_up", "exception"],
                },
            },
            "endpoints": {
                "odoo": {
                    "kind": "odoo",
                    "url": odoo.url,
                    "options": {
                        "database": odoo.db,
                        "api_key": "env:WV_ODOO_KEY",
                        "linger_ms": 5,
                        "validate_from": ["wms"],
                    },
                }
            },
            "delivery": {"backoff_base_seconds": 0.1, "backoff_max_seconds": 0.5},
            "workflows": {"roles": {"odoo": "odoo"}, "timer_poll_seconds": 0.2},
        }
        path = folder / "intermodal.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        with running_hub(load_config(path)) as hub:
            store = open_store(database)
            try:
                yield World(hub, odoo, store)
            finally:
                store.dispose()


def test_a_short_shipment_leaves_a_backorder_in_odoo(world: World) -> None:
    order = world.confirm("WV-1", {"CRATE": 5, "CARTON": 2})
    world.picked_up("WV-1", {"CRATE": 3, "CARTON": 2})
    world.settled("WV-1")
    first, backorder = world.pickings(order)
    assert first["state"] == "done" and backorder["backorder_id"][0] == first["id"]
    assert backorder["state"] == "assigned" and world.cases("WV-1") == []


def test_what_odoo_refuses_opens_a_case(world: World) -> None:
    order = world.confirm("WV-2", {"CRATE": 5})
    world.picked_up("WV-2", {"CRATE": 0})
    world.settled("WV-2")
    wait_until(lambda: bool(world.cases("WV-2")), timeout=30)
    (case,) = world.cases("WV-2")
    assert (case.kind, case.status) == ("odoo_refused", "open")
    assert case.reason.startswith("Odoo did not do what the hub asked: WH/OUT/")
    assert ZERO_QUANTITY.splitlines()[0] in case.reason
    assert [p["state"] for p in world.pickings(order)] == ["confirmed"]
    with world.store.read() as conn:
        (message,) = conn.execute(
            select(inbox.c.partner, inbox.c.channel, inbox.c.status).where(
                inbox.c.channel == "odoo"
            )
        ).all()
    assert (message.partner, message.channel, message.status) == ("intermodal", "odoo", "applied")


def test_an_order_of_services_has_no_delivery_and_waits_for_none(world: World) -> None:
    order = world.confirm("WV-3", {})
    world.picked_up("WV-3", {"CRATE": 1})
    world.settled("WV-3")  # delivered at once: no "no delivery yet" retries
    assert world.pickings(order) == [] and world.cases("WV-3") == []
    # settled(): every command about it was delivered, none waits for a delivery.
