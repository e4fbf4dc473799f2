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
from intermodal.engine.inbox import GroupCommitter, InboxMessage, Receipt
from intermodal.ingress.odoo_capture import (
    WriteDatePoller,
    automation_rule,
    events_from_record,
)
from intermodal.security.secrets import Secret
from intermodal.store import open_store
from intermodal.store.tables import inbox
from intermodal_sim.odoo.testing import running_sim
from intermodal_sim.testing import running_hub
from tests.conftest import ADMIN, ADMIN_TOKEN_REF

ODOO_TOKEN = "odoo-webhook-token-0123456789abcdef"


def odoo_settings(make_settings: Any, db_url: str) -> Any:
    return make_settings(
        {
            "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "odoo": {
                    "kind": "odoo",
                    "tokens": [{"token": "env:ODOO_WEBHOOK_TOKEN", "scopes": ["events:write"]}],
                    "owns": ["booked", "dispatched", "cancelled"],
                },
            },
        },
        env={"ODOO_WEBHOOK_TOKEN": ODOO_TOKEN},
    )


def test_automation_webhooks_become_shipment_events(make_settings: Any, sqlite_url: str) -> None:
    settings = odoo_settings(make_settings, sqlite_url)
    with running_hub(settings) as hub_url, running_sim() as sim:
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
                                "order_line": [[0, 0, {"product_id": 1}]]}],
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
                if shipment.get("state") == "booked":
                    break
            time.sleep(0.1)
        assert shipment.get("state") == "booked", shipment
        assert all(d.get("status") == 202 for d in sim.server.deliveries), sim.server.deliveries
        # The picking webhook names the order by its `name` (the picking's origin): a
        # different key for a hub-less order reference; documented in docs/odoo.md.
        (picking_body,) = [
            d["body"] for d in sim.server.deliveries if d["model"] == "stock.picking"
        ]
        origin = picking_body["origin"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = httpx.get(f"{hub_url}/v1/shipments/{origin}", headers=ADMIN)
            if response.status_code == 200 and response.json().get("state") == "dispatched":
                break
            time.sleep(0.1)
        assert (
            httpx.get(f"{hub_url}/v1/shipments/{origin}", headers=ADMIN).json()["state"]
            == "dispatched"
        )

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
