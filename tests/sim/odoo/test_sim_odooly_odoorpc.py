"""odooly 2.6.7 (JSON-RPC, and JSON-2 with an API key) and OdooRPC 0.10.1, unmodified."""

from __future__ import annotations

import odooly
import odoorpc
import pytest

from intermodal_sim.odoo.testing import RunningSim


@pytest.mark.parametrize("mode", ["jsonrpc", "json2"])
def test_odooly(sim: RunningSim, mode: str) -> None:
    if mode == "jsonrpc":
        client = odooly.Client(f"{sim.url}/jsonrpc", sim.db, "admin", "admin")
    else:
        client = odooly.Client(sim.url, sim.db, "admin", api_key=sim.api_key)
    assert client.version_info == 19.0
    partners = client.env["res.partner"]
    found = partners.search_read([("ref", "in", ["AZ-001", "DA-002"])], ["ref"])
    assert sorted(r["ref"] for r in found) == ["AZ-001", "DA-002"]
    created = partners.create({"name": f"odooly {mode}", "parent_id": 6})
    # JSON-2 create always returns a list (addons/rpc/controllers/json2.py), so odooly
    # browses a RecordList there and a Record over JSON-RPC (odoo/api.py call_kw).
    record = partners.browse(created.id if mode == "jsonrpc" else created.id[0])
    assert record.parent_id.name == "Azure Interior"  # many2one read as [id, name]
    batch = partners.create([{"name": f"odooly {mode} a"}, {"name": f"odooly {mode} b"}])
    assert len(batch) == 2
    record.write({"email": "odooly@example.com"})
    assert partners.read(record.id, "email") == "odooly@example.com"
    assert partners.read([999999], "name") == []  # odoo/models.py read skips missing ids
    with pytest.raises(odooly.ServerError) as missing:
        partners.browse(999999).write({"name": "ghost"})
    data = missing.value.args[0]["data"]
    assert data["name"] == "odoo.exceptions.MissingError"
    with pytest.raises(odooly.ServerError) as private:
        client.env.execute("res.partner", "_search_ids", [])
    assert private.value.args[0]["data"]["name"] == "odoo.exceptions.AccessError"
    batch.unlink()
    assert not partners.browse(batch.ids).exists()


def test_odooly_rights_and_bad_key(sim: RunningSim) -> None:
    portal = odooly.Client(sim.url, sim.db, "portal", api_key="portal-api-key")
    with pytest.raises(odooly.ServerError) as denied:
        portal.env["sale.order"].search_count([])
    # odoo/http.py Json2Dispatcher: AccessError is 403 with serialize_exception's body.
    assert denied.value.args[0]["code"] == 403
    assert denied.value.args[0]["data"]["name"] == "odoo.exceptions.AccessError"
    with pytest.raises(odooly.ServerError) as bad:
        odooly.Client(sim.url, sim.db, "admin", api_key="wrong-key")
    assert bad.value.args[0]["code"] == 401
    assert bad.value.args[0]["data"]["message"] == "Invalid apikey"


def test_odoorpc(sim: RunningSim) -> None:
    odoo = odoorpc.ODOO(sim.host, port=sim.port)
    assert odoo.version == "19.0"  # from POST /web/webclient/version_info
    assert odoo.db.list() == [sim.db]
    odoo.login(sim.db, "admin", "admin")
    assert odoo.env.user.name == "Mitchell Admin"
    Partner = odoo.env["res.partner"]
    ids = Partner.search([("id", "child_of", 6)])
    assert set(ids) >= {6, 7, 8}
    new_id = Partner.create({"name": "odoorpc one"})
    assert isinstance(new_id, int)
    assert len(Partner.create([{"name": "odoorpc a"}, {"name": "odoorpc b"}])) == 2
    Partner.write([new_id], {"parent_id": 9})
    assert Partner.browse(new_id).parent_id.name == "Deco Addict"
    assert odoo.env.ref("base.main_company").name == "Intermodal Demo Freight"
    assert odoo.execute_kw("res.partner", "read", [[999999]], {"fields": ["name"]}) == []
    with pytest.raises(odoorpc.error.RPCError) as missing:
        odoo.execute_kw("res.partner", "write", [[999999], {"name": "ghost"}])
    assert missing.value.info["data"]["name"] == "odoo.exceptions.MissingError"
    with pytest.raises(odoorpc.error.RPCError) as private:
        odoo.execute("res.partner", "_search_ids", [])
    assert "Private methods" in str(private.value)
    assert Partner.unlink([new_id]) is True
    with pytest.raises(odoorpc.error.RPCError):
        odoorpc.ODOO(sim.host, port=sim.port).login(sim.db, "admin", "wrong")
    portal = odoorpc.ODOO(sim.host, port=sim.port)
    portal.login(sim.db, "portal", "portal")
    with pytest.raises(odoorpc.error.RPCError) as denied:
        portal.execute_kw("sale.order", "search", [[]])
    assert denied.value.info["data"]["name"] == "odoo.exceptions.AccessError"
