"""Change capture: Odoo automation-rule webhooks and the write_date polling cursor feed the
inbox, and the hub's shipments follow what happens in Odoo."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.connectors.odoo.cursor import WriteDateCursor
from intermodal.engine.inbox import GroupCommitter, InboxMessage, Receipt
from intermodal.ingress.odoo_capture import (
    WriteDatePoller,
    automation_rule,
    events_from_record,
)
from intermodal.security.secrets import Secret
from intermodal.store import open_store
from intermodal.store.tables import inbox
from intermodal_sim.odoo.testing import RunningSim, running_sim
from intermodal_sim.testing import running_hub
from tests.conftest import ADMIN, ADMIN_TOKEN_REF

ODOO_TOKEN = "odoo-webhook-token-0123456789abcdef"
PALLETS = 4
"""The demo's Euro pallets (product.product 4): goods, so an order of them gets a delivery;
product 1 (ocean freight) is a service and gets none."""


def odoo_settings(make_settings: Any, db_url: str, sim: RunningSim | None = None) -> Any:
    """An Odoo partner sending webhooks; with `sim`, the endpoint the hub reads the orders of
    pickings from (through the partner's poll, kept rare here)."""
    partner: dict[str, Any] = {
        "kind": "odoo",
        "tokens": [{"token": "env:ODOO_WEBHOOK_TOKEN", "scopes": ["events:write"]}],
        "owns": ["booked", "dispatched", "cancelled"],
    }
    config: dict[str, Any] = {
        "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
        "partners": {"odoo": partner},
    }
    env = {"ODOO_WEBHOOK_TOKEN": ODOO_TOKEN}
    if sim is not None:
        partner["poll"] = {"endpoint": "odoo", "interval_seconds": 3600}
        config["endpoints"] = {
            "odoo": {
                "kind": "odoo",
                "url": sim.url,
                "milestones": ["delivered"],
                "options": {"database": sim.db, "api_key": "env:ODOO_READ_KEY"},
            }
        }
        env["ODOO_READ_KEY"] = sim.api_key
    return make_settings(config, env=env)


def test_automation_webhooks_become_shipment_events(make_settings: Any, sqlite_url: str) -> None:
    with (
        running_sim() as sim,
        running_hub(odoo_settings(make_settings, sqlite_url, sim)) as (hub_url),
    ):
        url = f"{hub_url}/v1/odoo/odoo/changes?token={ODOO_TOKEN}"
        for model in ("sale.order", "stock.picking"):
            response = httpx.post(f"{sim.url}/__sim/webhooks", json=automation_rule(model, url))
            assert response.status_code < 300, response.text

        async def confirm_and_ship() -> None:
            async with httpx.AsyncClient() as http:
                client = OdooClient(Connection(sim.url, sim.db, Secret(sim.api_key)), http)
                (order,) = await client.call(
                    "sale.order",
                    "create",
                    vals_list=[{"partner_id": 9, "client_order_ref": "CUST-PO-77",
                                "order_line": [[0, 0, {"product_id": 1}],
                                               [0, 0, {"product_id": PALLETS}]]}],
                )  # fmt: skip
                await client.call("sale.order", "action_confirm", [order])
                pickings = await client.call(
                    "stock.picking", "search", domain=[["sale_id", "=", order]]
                )
                await client.call("stock.picking", "button_validate", pickings)

        asyncio.run(confirm_and_ship())
        deadline = time.monotonic() + 10
        shipment: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = httpx.get(f"{hub_url}/v1/shipments/CUST-PO-77", headers=ADMIN)
            if response.status_code == 200:
                shipment = response.json()
                if shipment.get("state") == "dispatched":
                    break
            time.sleep(0.1)
        # booked by the order's webhook, then dispatched by its picking's: one shipment
        assert shipment.get("state") == "dispatched", shipment
        # every change was taken: stored (202), or answered as asserting nothing (200: the
        # delivery became Ready when the order was confirmed)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            d.get("status") is None for d in sim.server.deliveries
        ):
            time.sleep(0.05)
        taken = [(d["model"], d.get("status"), d["body"]["state"]) for d in sim.server.deliveries]
        assert sorted(taken) == [("sale.order", 202, "sale"), ("stock.picking", 200, "assigned"),
                                 ("stock.picking", 202, "done")], taken  # fmt: skip
        # The picking's webhook carries its `sale_id`; the hub reads that order and keys the
        # picking by the order's shipment key, whatever Odoo wrote in `origin`
        # ("<order> - CUST-PO-77": sale_stock `_action_launch_stock_rule`).
        (picking_body,) = [
            d["body"]
            for d in sim.server.deliveries
            if d["model"] == "stock.picking" and d["body"]["state"] == "done"
        ]
        assert picking_body["origin"].endswith(" - CUST-PO-77") and picking_body["sale_id"]
        origin = picking_body["origin"]
        assert httpx.get(f"{hub_url}/v1/shipments/{origin}", headers=ADMIN).status_code == 404

        bad = httpx.post(f"{hub_url}/v1/odoo/odoo/changes?token=wrong", json={"_model": "x"})
        assert bad.status_code == 401
        # an unknown name answers exactly as a wrong token does: names do not show
        for name in ("no-such-partner", "nobody"):
            for token in ("wrong", ODOO_TOKEN, None):
                query = f"?token={token}" if token else ""
                unknown = httpx.post(
                    f"{hub_url}/v1/odoo/{name}/changes{query}", json={"_model": "x"}
                )
                assert (unknown.status_code, unknown.json()) == (401, bad.json())
        ignored = httpx.post(url, json={"_model": "res.partner", "id": 3, "state": "x"})
        assert ignored.status_code == 200 and ignored.json()["events"] == 0


def test_a_picking_is_keyed_by_its_order_never_by_its_origin() -> None:
    """The picking's `sale_id` names its shipment (the order's key from `order_keys`);
    its origin text, however it reads, is never parsed; the event id is the same as
    before the keying changed, so a re-read overlap adds nothing."""
    picking = {"_model": "stock.picking", "id": 12, "name": "WH/OUT/00012",
               "origin": "S00007 - HUB-1", "state": "done", "picking_type_code": "outgoing",
               "sale_id": [7, "S00007"], "backorder_id": False,
               "write_date": "2026-11-23 10:00:00"}  # fmt: skip
    (event,) = events_from_record("stock.picking", picking, "odoo/odoo", orders={7: "HUB-1"})
    assert event["id"] == "odoo:stock.picking:12:done" and event["subject"] == "HUB-1"
    assert event["data"]["milestone"] == "dispatched"
    # a webhook reads many2ones as bare ids
    bare = {**picking, "sale_id": 7, "origin": "edited by hand"}
    assert events_from_record("stock.picking", bare, "odoo/odoo", orders={7: "HUB-1"}) == [event]
    # without its order (not read, none, another order) the picking asserts nothing
    assert events_from_record("stock.picking", picking, "odoo/odoo") == []
    assert events_from_record("stock.picking", {**picking, "sale_id": False}, "odoo/odoo",
                              orders={7: "HUB-1"}) == []  # fmt: skip
    assert events_from_record("stock.picking", picking, "odoo/odoo", orders={8: "X"}) == []
    # a cancelled backorder is the rest of a partial delivery: the shipment goes on
    cancelled = {**picking, "state": "cancel"}
    (gone,) = events_from_record("stock.picking", cancelled, "odoo/odoo", orders={7: "HUB-1"})
    assert gone["data"]["milestone"] == "cancelled"
    rest = {**cancelled, "backorder_id": [11, "WH/OUT/00011"]}
    assert events_from_record("stock.picking", rest, "odoo/odoo", orders={7: "HUB-1"}) == []
    # incoming pickings are not deliveries
    receipt = {**picking, "picking_type_code": "incoming"}
    assert events_from_record("stock.picking", receipt, "odoo/odoo", orders={7: "HUB-1"}) == []


def test_a_stored_cursor_keeps_its_place_and_pickings_follow_their_order(
    sqlite_url: str,
) -> None:
    """A cursor stored before pickings were keyed by sale_id (same table, same row shape:
    (partner, model) -> (write_date, id)) resumes where it was; the pickings it reads next
    are keyed by their order's reference."""
    store = open_store(sqlite_url)
    store.migrate()
    committer = GroupCommitter(store)
    committer.start()
    try:
        with running_sim() as sim:

            async def scenario() -> None:
                async with httpx.AsyncClient() as http:
                    client = OdooClient(Connection(sim.url, sim.db, Secret(sim.api_key)), http)
                    (old,) = await client.call("sale.order", "create", vals_list=[
                        {"partner_id": 9, "client_order_ref": "OLD-1",
                         "order_line": [[0, 0, {"product_id": PALLETS}]]}])  # fmt: skip
                    await client.call("sale.order", "action_confirm", [old])
                    (old_picking,) = await client.call(
                        "stock.picking", "search_read", domain=[["sale_id", "=", old]],
                        fields=["write_date"])  # fmt: skip
                    # what an earlier version stored: the picking model's position
                    WriteDateCursor(store, "odoo", "stock.picking").save(
                        (old_picking["write_date"], old_picking["id"])
                    )
                    poller = WriteDatePoller(
                        client, store, "odoo", committer.submit, overlap_seconds=0
                    )
                    (order,) = await client.call("sale.order", "create", vals_list=[
                        {"partner_id": 9, "client_order_ref": "NEW-1",
                         "order_line": [[0, 0, {"product_id": PALLETS}]]}])  # fmt: skip
                    await client.call("sale.order", "action_confirm", [order])
                    pickings = await client.call(
                        "stock.picking", "search", domain=[["sale_id", "=", order]]
                    )
                    await client.call("stock.picking", "button_validate", pickings)
                    await poller.poll_once()

            asyncio.run(scenario())
        with store.read() as conn:
            bodies = [
                bytes(r.body).decode()
                for r in conn.execute(select(inbox.c.body).where(inbox.c.partner == "odoo"))
            ]
        dispatched = [b for b in bodies if '"milestone":"dispatched"' in b]
        assert len(dispatched) == 1 and '"subject":"NEW-1"' in dispatched[0], bodies
        assert not any('"subject":"OLD-1"' in b and "stock.picking" in b for b in bodies)
    finally:
        committer.stop()
        store.dispose()


def test_events_of_a_record_are_stable_across_deliveries() -> None:
    record = {"_model": "sale.order", "id": 5, "name": "S00005", "client_order_ref": False,
              "state": "sale", "write_date": "2026-11-23 10:00:00"}  # fmt: skip
    first = events_from_record("sale.order", record, "odoo/odoo")
    assert [e["id"] for e in first] == ["odoo:sale.order:5:upserted", "odoo:sale.order:5:sale"]
    assert first == events_from_record("sale.order", dict(record), "odoo/odoo")
    assert first[0]["subject"] == "S00005"


@pytest.mark.parametrize("version", [19, 18])
def test_polling_cursor_reads_same_second_writes_once_each(
    db_url: str, tmp_path: Path, version: int
) -> None:
    store = open_store(db_url)
    store.migrate()
    committer = GroupCommitter(store)
    committer.start()
    try:
        with running_sim(version=version) as sim:

            async def scenario() -> tuple[int, int, int]:
                async with httpx.AsyncClient() as http:
                    protocol = "json2" if version >= 19 else "jsonrpc"
                    client = OdooClient(
                        Connection(sim.url, sim.db, Secret(sim.api_key), "admin", protocol), http
                    )

                    async def submit(messages: list[InboxMessage]) -> list[Receipt]:
                        return await committer.submit(messages)

                    poller = WriteDatePoller(
                        client, store, "odoo", submit, overlap_seconds=5, page_size=3
                    )
                    ids = await client.call(
                        "sale.order",
                        "create",
                        vals_list=[
                            {"partner_id": 9, "client_order_ref": f"PO-{i}",
                             "order_line": [[0, 0, {"product_id": 1}]]}
                            for i in range(7)
                        ],
                    )  # fmt: skip
                    # Seven orders confirmed in one call share one write_date second; pages
                    # of 3 must neither skip nor repeat any of them.
                    await client.call("sale.order", "action_confirm", ids)
                    first = await poller.poll_once()
                    again = await poller.poll_once()  # the overlap re-reads; the inbox dedups
                    await client.call("sale.order", "action_cancel", ids[:2])
                    third = await poller.poll_once()
                    return first, again, third

            first, again, third = asyncio.run(scenario())
        assert first >= 7 and again >= 7 and third >= 7
        with store.read() as conn:
            rows = conn.execute(select(inbox.c.body).where(inbox.c.partner == "odoo")).all()
        bodies = [bytes(r.body).decode() for r in rows]
        confirmed = [b for b in bodies if '"milestone":"booked"' in b]
        cancelled = [b for b in bodies if '"milestone":"cancelled"' in b]
        assert len(confirmed) == 7  # each confirmed order once, despite three polls
        assert len(cancelled) == 2
    finally:
        committer.stop()
        store.dispose()


def test_the_hub_polls_odoo_when_configured_to(make_settings: Any, sqlite_url: str) -> None:
    """`partners.<odoo>.poll` starts a write_date poller with the hub; no webhook needed."""
    with running_sim() as sim:
        settings = make_settings(
            {
                "hub": {"database": sqlite_url, "admin_token": ADMIN_TOKEN_REF},
                "partners": {
                    "odoo": {
                        "kind": "odoo",
                        "owns": ["booked", "dispatched", "cancelled"],
                        "poll": {"endpoint": "odoo", "interval_seconds": 1, "overlap_seconds": 5},
                    }
                },
                "endpoints": {
                    "odoo": {
                        "kind": "odoo",
                        "url": sim.url,
                        "milestones": ["delivered"],
                        "options": {"database": sim.db, "api_key": "env:ODOO_POLL_KEY"},
                    }
                },
            },
            env={"ODOO_POLL_KEY": sim.api_key},
        )
        with running_hub(settings) as hub_url:

            async def confirm() -> None:
                async with httpx.AsyncClient() as http:
                    client = OdooClient(Connection(sim.url, sim.db, Secret(sim.api_key)), http)
                    (order,) = await client.call(
                        "sale.order",
                        "create",
                        vals_list=[{"partner_id": 9, "client_order_ref": "POLLED-1",
                                    "order_line": [[0, 0, {"product_id": 1}]]}],
                    )  # fmt: skip
                    await client.call("sale.order", "action_confirm", [order])

            asyncio.run(confirm())
            deadline = time.monotonic() + 15
            state = None
            while time.monotonic() < deadline and state != "booked":
                response = httpx.get(f"{hub_url}/v1/shipments/POLLED-1", headers=ADMIN)
                state = response.json().get("state") if response.status_code == 200 else None
                time.sleep(0.2)
            assert state == "booked"


def test_serve_stops_on_bad_odoo_endpoint_options(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "c.yaml"
    config.write_text(
        "endpoints:\n  odoo:\n    kind: odoo\n    url: http://127.0.0.1:9\n"
        "    options: {api_key: 'env:NOPE_NOT_SET', protocol: jsonrpc}\n"
        "partners:\n  erp:\n    kind: odoo\n    poll: {endpoint: nowhere}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "partners.erp.poll.endpoint: no endpoint named 'nowhere'" in result.stderr
