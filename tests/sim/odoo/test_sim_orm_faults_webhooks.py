"""ORM behaviour over JSON-2, fault injection, call counters and automation webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from intermodal_sim.odoo.faults import FaultPlan, FaultSpecError
from intermodal_sim.odoo.testing import RunningSim, running_sim


def test_orm_semantics(json2: Callable[..., httpx.Response]) -> None:
    def ok(model: str, method: str, **body: Any) -> Any:
        response = json2(model, method, **body)
        assert response.status_code == 200, response.text
        return response.json()

    [order] = ok(
        "sale.order",
        "create",
        vals_list=[
            {
                "partner_id": 9,
                "client_order_ref": "ORM-1",
                "order_line": [[0, 0, {"product_id": 3, "product_uom_qty": 2}]],
            }
        ],
    )
    line = ok("sale.order", "read", ids=[order], fields=["order_line"])[0]["order_line"][0]
    # x2many commands (odoo/fields.py Command): update, create, delete
    ok(
        "sale.order",
        "write",
        ids=[order],
        vals={"order_line": [[1, line, {"product_uom_qty": 3}], [0, 0, {"product_id": 5}]]},
    )
    read = ok(
        "sale.order",
        "read",
        ids=[order],
        fields=["amount_total", "order_line", "write_date", "create_date"],
    )[0]
    assert read["amount_total"] == 3 * 980.0 + 145.0 and len(read["order_line"]) == 2
    assert read["write_date"] >= read["create_date"]
    ok("sale.order", "write", ids=[order], vals={"order_line": [[2, line]]})
    assert ok("sale.order", "read", ids=[order], fields=["amount_total"])[0]["amount_total"] == 145
    # active_test: archived records are hidden unless the context says otherwise
    assert ok("res.partner", "search", domain=[["ref", "=", "OF-999"]]) == []
    assert (
        ok("res.partner", "search", domain=[["ref", "=", "OF-999"]], context={"active_test": False})
        != []
    )
    assert ok("res.partner", "search_count", domain=[["active", "=", False]]) == 1
    # the domain language: prefix operators, dotted paths, like variants, limit/offset/order
    names = ok(
        "res.partner",
        "search_read",
        fields=["name"],
        order="name desc",
        limit=2,
        offset=1,
        domain=[
            "|",
            ["country_id.code", "in", ["BE", "NL"]],
            "!",
            ["name", "=like", "%Inc%"],
            ["is_company", "=", True],
        ],
    )
    # implicit "&" in front: (BE or NL or not like "%Inc%") and is_company
    assert [n["name"] for n in names] == ["Intermodal Demo Freight", "Gemini Furniture"]
    assert ok("product.product", "search_count", domain=[["categ_id", "child_of", "Freight"]]) == 3
    assert (
        ok("res.partner", "name_search", name="brandon")[0][1] == "Azure Interior, Brandon Freeman"
    )
    # business flow: confirm creates the delivery of the goods (product 4, pallets: the
    # order's other line is a service); validate marks it done
    ok("sale.order", "write", ids=[order], vals={"order_line": [[0, 0, {"product_id": 4}]]})
    ok("sale.order", "action_confirm", ids=[order])
    [picking] = ok("stock.picking", "search", domain=[["sale_id", "=", order]])
    ok("stock.picking", "write", ids=[picking], vals={"carrier_tracking_ref": "TRK1"})
    assert ok("stock.picking", "button_validate", ids=[picking]) is True
    done = ok("stock.picking", "read", ids=[picking], fields=["state", "date_done", "origin"])[0]
    assert done["state"] == "done" and done["date_done"] and done["origin"].startswith("S")
    [message] = ok(
        "stock.picking",
        "message_post",
        ids=[picking],
        body="Delivered",
        message_type="comment",
        subtype_xmlid="mail.mt_note",
    )
    assert (
        ok("mail.message", "read", ids=[message], fields=["model"])[0]["model"] == "stock.picking"
    )
    assert ok("ir.model.data", "check_object_reference", module="base", xml_id="main_company") == [
        "res.company",
        1,
    ]
    groups = ok(
        "sale.order", "read_group", domain=[], fields=["amount_total:sum"], groupby=["partner_id"]
    )
    assert {g["partner_id"][1] for g in groups} >= {"Deco Addict", "Azure Interior"}
    assert ok("res.partner", "fields_get", attributes=["type"])["parent_id"]["type"] == "many2one"


def test_fault_grammar() -> None:
    plan = FaultPlan.parse(
        "seed=3,latency=20ms,sale.order/write:serialization=50%,429=0.1,"
        "retry_after=2s,/search:timeout=0.5,hang=1s"
    )
    assert plan.seed == 3 and [r.key for r in plan.rules][:2] == ["latency", "serialization"]
    draws = [plan.decide("res.partner", "search") for _ in range(50)]
    again = FaultPlan.parse(plan.spec)
    assert draws == [again.decide("res.partner", "search") for _ in range(50)]
    assert any(d.status == 429 and d.retry_after == 2 for d in draws)
    assert FaultPlan.parse("down=5s", now=100.0).decide(None, None, now=104.0).status == 503
    assert FaultPlan.parse("down=5s", now=100.0).decide(None, None, now=106.0).status is None
    for bad in ("latency=fast", "5xx=2", "nope=1", "seed=x", "novalue"):
        with pytest.raises(FaultSpecError):
            FaultPlan.parse(bad)


def test_faults_over_http(
    http: httpx.Client,
    sim: RunningSim,
    json2: Callable[..., httpx.Response],
    jsonrpc: Callable[..., dict[str, Any]],
) -> None:
    try:
        assert http.put("/__sim/faults", json={"spec": "429=1,retry_after=3s"}).status_code == 200
        throttled = json2("res.partner", "search_count", domain=[])
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "3"
        http.put("/__sim/faults", content="res.partner/write:serialization=1")
        # retrying() in odoo/service/model.py gives up after 5 tries; the psycopg error surfaces
        failed = json2("res.partner", "write", ids=[6], vals={"ref": "changed"})
        assert failed.status_code == 500
        assert failed.json()["name"] == "psycopg2.errors.SerializationFailure"
        rpc = jsonrpc(
            "object",
            "execute_kw",
            sim.db,
            2,
            "admin",
            "res.partner",
            "write",
            [[6], {"ref": "changed"}],
        )
        assert rpc["error"]["data"]["name"] == "psycopg2.errors.SerializationFailure"
        assert json2("res.partner", "read", ids=[6], fields=["ref"]).json()[0]["ref"] == "AZ-001"
        sim.set_faults("latency=150ms")
        start = time.monotonic()
        assert json2("res.partner", "search_count", domain=[]).status_code == 200
        assert time.monotonic() - start >= 0.15
        sim.set_faults("down=30s")
        assert json2("res.partner", "search_count", domain=[]).status_code == 503
        assert http.put("/__sim/faults", content="bogus=1").status_code == 400
    finally:
        sim.set_faults(None)
    http.delete("/__sim/calls")
    json2("res.partner", "search_count", domain=[])
    counts = http.get("/__sim/calls").json()
    assert counts["calls"]["json2"]["res.partner"]["search_count"] == 1


class Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_automation_webhooks(receiver: str, tmp_path: Any) -> None:
    data = json.loads(
        __import__("importlib.resources")
        .resources.files("intermodal_sim.odoo.data")
        .joinpath("demo.json")
        .read_text()
    )
    data["automations"] = [
        {
            "model": "stock.picking",
            "trigger": "on_write",
            "url": receiver,
            "fields": ["state", "carrier_tracking_ref"],
            "filter_domain": "[('state', '=', 'done')]",
            "name": "Picking done",
        }
    ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(data))
    with running_sim(data=path) as sim, httpx.Client(base_url=sim.url) as http:
        headers = {"Authorization": f"bearer {sim.api_key}"}
        added = http.post(
            "/__sim/webhooks",
            json={
                "model": "res.partner",
                "trigger": "on_create",
                "url": receiver,
                "fields": ["name", "ref"],
            },
        )
        assert added.status_code == 201
        http.post(
            "/json/2/res.partner/create",
            headers=headers,
            json={"vals_list": [{"name": "Hooked", "ref": "H-1"}]},
        )
        # the second demo order ships pallets (goods): confirming it creates a delivery
        http.post("/json/2/sale.order/action_confirm", headers=headers, json={"ids": [2]})
        picking = http.post(
            "/json/2/stock.picking/search", headers=headers, json={"domain": [["sale_id", "=", 2]]}
        ).json()
        http.post(
            "/json/2/stock.picking/write",
            headers=headers,
            json={"ids": picking, "vals": {"carrier_tracking_ref": "T-9"}},
        )
        http.post("/json/2/stock.picking/button_validate", headers=headers, json={"ids": picking})
        deadline = time.monotonic() + 5
        while len(Receiver.bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    # odoo/addons/base/models/ir_actions.py _run_action_webhook payload
    partner = next(b for b in Receiver.bodies if b["_model"] == "res.partner")
    assert partner["name"] == "Hooked" and partner["ref"] == "H-1"
    assert partner["_action"].endswith(")") and "(#" in partner["_action"]
    done = [b for b in Receiver.bodies if b["_model"] == "stock.picking"]
    assert len(done) == 1  # the filter kept the tracking write, which was not yet done, out
    assert done[0] == {
        "_action": done[0]["_action"],
        "_id": picking[0],
        "_model": "stock.picking",
        "id": picking[0],
        "state": "done",
        "carrier_tracking_ref": "T-9",
    }
