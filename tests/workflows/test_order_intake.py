"""Order intake from Odoo change capture: a confirmed order becomes a shipment with its
customer, addresses (read from Odoo as stops), carrier, service level and incoterm."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.canonical.events import parse_events
from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.engine.inbox import InboxMessage, Receipt
from intermodal.ingress.odoo_capture import WriteDatePoller, events_from_record, order_stops
from intermodal.security.secrets import Secret
from intermodal.store import open_store
from intermodal_sim.odoo.testing import running_sim


def test_a_confirmed_order_is_a_shipment_with_stops_and_service_level(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.migrate()
    submitted: list[InboxMessage] = []

    async def submit(messages: list[InboxMessage]) -> list[Receipt]:
        submitted.extend(messages)
        return []

    async def scenario(url: str, db: str, key: str) -> None:
        async with httpx.AsyncClient() as http:
            client = OdooClient(Connection(url, db, Secret(key)), http)

            async def one(model: str, domain: list[Any]) -> int:
                (found,) = await client.call(model, "search", domain=domain)
                return int(found)

            customer = await one("res.partner", [["ref", "=", "AZ-001"]])
            dock = await one("res.partner", [["name", "=", "Brandon Freeman"]])
            carrier = await one("delivery.carrier", [["name", "=", "DHL Express"]])
            (order,) = await client.call("sale.order", "create", vals_list=[{
                "partner_id": customer, "partner_shipping_id": dock, "carrier_id": carrier,
                "client_order_ref": "PO-INTAKE", "order_line": [[0, 0, {"product_id": 1}]],
            }])  # fmt: skip
            await client.call("sale.order", "action_confirm", [order])
            await WriteDatePoller(client, store, "odoo", submit).poll_once()
            # Without a state of `sale`, or without Odoo, there is nothing to read.
            assert await order_stops(client, {"state": "draft", "partner_id": customer}) == []

    try:
        with running_sim() as sim:
            asyncio.run(scenario(sim.url, sim.db, sim.api_key))
    finally:
        store.dispose()
    (message,) = [m for m in submitted if b"PO-INTAKE" in m.body and b"upserted" in m.body]
    upserted = orjson.loads(message.body)[0]["data"]
    assert upserted["service_level"] == "DHL Express"
    roles = [(p["role"], p["name"]) for p in upserted["parties"]]
    assert roles == [
        ("customer", "Azure Interior"),  # also the invoice address: no separate bill_to
        ("consignee", "Azure Interior, Brandon Freeman"),
        ("carrier", "DHL Express"),
    ]
    kinds = [(s["kind"], s["party"]["odoo_partner_id"] is not None) for s in upserted["stops"]]
    assert kinds == [("pickup", True), ("delivery", True)]
    assert upserted["stops"][1]["address"]["country"] == "US"


def test_terms_from_many2one_values_of_either_shape() -> None:
    """search_read gives [id, name]; an automation webhook gives a bare id; False is empty."""
    base = {"_model": "sale.order", "id": 7, "name": "S00007", "state": "sale",
            "write_date": "2026-11-23 10:00:00"}  # fmt: skip
    polled = {**base, "partner_id": [9, "Acme"], "partner_invoice_id": [10, "Acme Billing"],
              "partner_shipping_id": [9, "Acme"], "carrier_id": [2, "Maersk Line"],
              "incoterm": [3, "[DDP] Delivered Duty Paid"]}  # fmt: skip
    (shipment, _booked) = events_from_record("sale.order", polled, "odoo/odoo")
    data = shipment["data"]
    assert [(p["role"], p.get("odoo_partner_id")) for p in data["parties"]] == [
        ("customer", 9),
        ("bill_to", 10),
        ("carrier", None),
    ]
    assert (data["incoterm"], data["service_level"]) == ("DDP", "Maersk Line")
    hooked = {**base, "partner_id": 9, "partner_shipping_id": False, "carrier_id": 2,
              "incoterm": [3, "EX WORKS"]}  # fmt: skip
    (shipment, _booked) = events_from_record("sale.order", hooked, "odoo/odoo")
    data = shipment["data"]
    assert data["parties"] == [{"role": "customer", "name": "Odoo partner 9", "odoo_partner_id": 9}]
    assert "incoterm" not in data and "service_level" not in data
    stops = [{"sequence": 1, "kind": "delivery", "address": {"country": "US"}}]
    (shipment, _booked) = events_from_record("sale.order", hooked, "odoo/odoo", stops)
    assert shipment["data"]["stops"] == stops


_M2O = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2**40), st.text(max_size=20),
    st.tuples(st.integers(-5, 50), st.one_of(st.text(max_size=300), st.booleans(), st.none())),
    st.lists(st.integers(), max_size=3),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({f: _M2O for f in ("partner_id", "partner_invoice_id",
                                                 "partner_shipping_id", "carrier_id",
                                                 "incoterm", "company_id")}))  # fmt: skip
def test_any_many2one_values_give_valid_events_or_none(values: dict[str, Any]) -> None:
    """Whatever Odoo (or a hostile caller with the token) puts in the order's relations,
    capture gives valid canonical events or none, never an exception."""
    record = {"_model": "sale.order", "id": 7, "name": "S00007", "state": "sale",
              "write_date": "2026-11-23 10:00:00",
              **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}}  # fmt: skip
    events = events_from_record("sale.order", record, "odoo/odoo")
    if events:
        parse_events(orjson.dumps(events))
