"""odoo-client-lib 2.0.1, unmodified, over its json2, jsonrpc and xmlrpc protocols."""

from __future__ import annotations

import json
import xmlrpc.client

import odoolib
import pytest
from odoolib.tools import AuthenticationError, JsonRPCException

from intermodal_sim.odoo.testing import RunningSim


def connect(
    sim: RunningSim,
    protocol: str,
    key: str | None = None,
    login: str = "admin",
    password: str = "admin",
) -> odoolib.main.Connection:
    secret = (key or sim.api_key) if protocol == "json2" else password
    return odoolib.get_connection(
        hostname=sim.host,
        port=sim.port,
        protocol=protocol,
        database=sim.db,
        login=login,
        password=secret,
    )


def test_json2_crud_and_errors(sim: RunningSim) -> None:
    partners = connect(sim, "json2").get_model("res.partner")
    # Positional args make odoolib read /doc-bearer/res.partner.json for parameter names.
    found = partners.search_read(
        [("is_company", "=", True), ("country_id.code", "=", "US")], ["name", "country_id"]
    )
    assert {"id": 6, "name": "Azure Interior", "country_id": [1, "United States"]} in found
    # addons/rpc/controllers/json2.py: create returns .ids, a list even for one dict.
    [one] = partners.create({"name": "OCL json2 single"})
    batch = partners.create([{"name": "OCL json2 a"}, {"name": "OCL json2 b"}])
    assert len(batch) == 2
    assert partners.write([one], {"parent_id": 6}) is True
    assert partners.read([one], ["parent_id"])["parent_id"] == [6, "Azure Interior"]
    assert partners.unlink(batch) is True
    assert partners.read([999999], ["name"]) == []  # missing ids are skipped (odoo/models.py)
    # odoo/http.py Json2Dispatcher.handle_error: MissingError -> 404 with a JSON body.
    with pytest.raises(ValueError, match="Unexpected status code 404") as missing:
        partners.write([999999], {"name": "ghost"})
    body = json.loads(str(missing.value).split(": ", 1)[1])
    assert body["name"] == "odoo.exceptions.MissingError"
    assert body["message"].startswith("Record does not exist or has been deleted.")
    # odoo/service/model.py get_public_method: AccessError (403) for a private method.
    with pytest.raises(ValueError, match="Unexpected status code 403") as private:
        partners._search_ids([])
    assert "Private methods (such as 'res.partner._search_ids')" in str(private.value)


def test_json2_rights_and_bad_key(sim: RunningSim) -> None:
    orders = connect(sim, "json2", key="portal-api-key").get_model("sale.order")
    with pytest.raises(ValueError, match="Unexpected status code 403") as denied:
        orders.search_count(domain=[])
    assert "odoo.exceptions.AccessError" in str(denied.value)
    assert "You are not allowed to access 'Sales Order' (sale.order) records." in str(denied.value)
    # odoo/addons/base/models/ir_http.py _auth_method_bearer: 401 -> AuthenticationError.
    assert connect(sim, "json2", key="not-a-key").check_login() is False
    with pytest.raises(AuthenticationError):
        connect(sim, "json2", key="not-a-key").get_model("res.partner").search_count(domain=[])


def test_jsonrpc(sim: RunningSim) -> None:
    conn = connect(sim, "jsonrpc")
    assert conn.get_service("common").version()["server_version"] == "19.0"
    partners = conn.get_model("res.partner")
    assert (
        partners.search_read([("name", "ilike", "azure")], ["name"])[0]["name"] == "Azure Interior"
    )
    # odoo/api.py call_kw: create gives an int for a dict and a list for a list.
    single = partners.create({"name": "OCL jsonrpc single"})
    assert isinstance(single, int)
    assert len(partners.create([{"name": "OCL jr a"}, {"name": "OCL jr b"}])) == 2
    assert partners.write([single], {"ref": "OCL-1"}) is True
    assert partners.read(single, ["ref"])["ref"] == "OCL-1"
    assert partners.read([999999], ["name"]) == []
    # odoo/http.py serialize_exception inside JsonRPCDispatcher.handle_error.
    with pytest.raises(JsonRPCException) as missing:
        partners.write([999999], {"name": "ghost"})
    assert missing.value.error["data"]["name"] == "odoo.exceptions.MissingError"
    assert missing.value.error["code"] == 0
    with pytest.raises(JsonRPCException) as private:
        partners._search_ids([])
    assert private.value.error["data"]["name"] == "odoo.exceptions.AccessError"
    assert partners.unlink([single]) is True
    denied = connect(sim, "jsonrpc", login="portal", password="portal").get_model("sale.order")
    with pytest.raises(JsonRPCException) as rights:
        denied.search([])
    assert rights.value.error["data"]["name"] == "odoo.exceptions.AccessError"
    with pytest.raises(AuthenticationError):  # odoo/service/common.py: login -> False
        connect(sim, "jsonrpc", password="wrong").check_login()


def test_xmlrpc_legacy_string_faults(sim: RunningSim) -> None:
    conn = connect(sim, "xmlrpc")
    partners = conn.get_model("res.partner")
    created = partners.create({"name": "OCL xmlrpc"})
    assert isinstance(created, int)
    assert partners.read([created], ["name"])[0]["name"] == "OCL xmlrpc"
    # addons/rpc/controllers/xmlrpc.py xmlrpc_handle_exception_string.
    with pytest.raises(xmlrpc.client.Fault) as missing:
        partners.write([999999], {"name": "ghost"})
    assert str(missing.value.faultCode).startswith("warning -- MissingError\n\n")
    with pytest.raises(xmlrpc.client.Fault) as private:
        partners._search_ids([])
    assert str(private.value.faultCode).startswith("warning -- AccessError\n\n")
    with pytest.raises(xmlrpc.client.Fault) as denied:
        conn.get_service("object").execute_kw(sim.db, 2, "wrong", "res.partner", "search", [[]])
    assert denied.value.faultCode == "AccessDenied"
    assert denied.value.faultString == "Access Denied"
    assert partners.unlink([created]) is True
