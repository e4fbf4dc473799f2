"""Raw HTTP against each protocol's envelope, next to the Odoo source that defines it."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Callable
from typing import Any

import httpx

from intermodal_sim.odoo.testing import RunningSim


def test_jsonrpc_envelopes(
    http: httpx.Client, sim: RunningSim, jsonrpc: Callable[..., dict[str, Any]]
) -> None:
    # odoo/service/common.py exp_version
    version = jsonrpc("common", "version")
    assert version["jsonrpc"] == "2.0" and version["id"] == 7
    assert version["result"]["server_version_info"] == [19, 0, 0, "final", 0, ""]
    # odoo/service/common.py exp_login: False on bad credentials, never an error
    assert jsonrpc("common", "login", sim.db, "admin", "nope")["result"] is False
    assert jsonrpc("common", "login", sim.db, "admin", sim.api_key)["result"] == 2
    # odoo/http.py JsonRPCDispatcher._response leaves `result` out when it is None
    move = jsonrpc(
        "object",
        "execute_kw",
        sim.db,
        2,
        "admin",
        "account.move",
        "create",
        [{"move_type": "out_invoice", "partner_id": 6}],
    )["result"]
    none = jsonrpc(
        "object", "execute_kw", sim.db, 2, "admin", "account.move", "button_cancel", [[move]]
    )
    assert "result" not in none and "error" not in none
    # odoo/http.py serialize_exception (19): keys in this order, code 0
    error = jsonrpc("object", "execute_kw", sim.db, 2, "admin", "res.partner", "frobnicate", [[1]])[
        "error"
    ]
    assert error["code"] == 0 and error["message"] == "Odoo Server Error"
    assert list(error["data"]) == ["name", "message", "arguments", "context", "debug"]
    assert error["data"]["name"] == "builtins.AttributeError"
    assert error["data"]["message"] == "The method 'res.partner.frobnicate' does not exist"
    # odoo/service/model.py execute_cr: unknown model is a UserError
    unknown = jsonrpc("object", "execute_kw", sim.db, 2, "admin", "no.such", "search", [[]])
    assert unknown["error"]["data"]["name"] == "odoo.exceptions.UserError"
    assert unknown["error"]["data"]["message"] == "Object no.such doesn't exist"
    # odoo/service/model.py dispatch + security.check: bad password is AccessDenied
    denied = jsonrpc("object", "execute_kw", sim.db, 2, "nope", "res.partner", "search", [[]])
    assert denied["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    # odoo/http.py JsonRPCDispatcher.dispatch: malformed bodies are plain 400s
    bad = http.post("/jsonrpc", content=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.text == "Invalid JSON data"
    bad = http.post("/jsonrpc", json=[1, 2])
    assert bad.status_code == 400 and bad.text == "Invalid JSON-RPC data"
    # odoo/http.py: unmatched JSON request -> JSON-RPC 404 error object
    lost = http.post("/web/nowhere", json={"jsonrpc": "2.0", "id": 3, "params": {}}).json()
    assert lost["error"]["code"] == 404 and lost["error"]["message"] == "404: Not Found"


def test_xmlrpc_faults(http: httpx.Client, sim: RunningSim) -> None:
    def call(path: str, method: str, *params: Any) -> httpx.Response:
        return http.post(
            path, content=xmlrpc.client.dumps(params, method), headers={"Content-Type": "text/xml"}
        )

    # addons/rpc/controllers/xmlrpc.py: HTTP 200 and text/xml, faults included
    ok = call(
        "/xmlrpc/2/object",
        "execute_kw",
        sim.db,
        2,
        "admin",
        "res.partner",
        "search_count",
        [[["is_company", "=", True]]],
    )
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/xml")
    assert xmlrpc.client.loads(ok.content)[0][0] >= 5
    codes = {}
    for method, args in {
        "write": [[999999], {"name": "x"}],
        "_search_ids": [[]],
        "create": [{"name": "x", "type": "bogus"}],
    }.items():
        reply = call(
            "/xmlrpc/2/object", "execute_kw", sim.db, 2, "admin", "res.partner", method, args
        )
        try:
            xmlrpc.client.loads(reply.content)
        except xmlrpc.client.Fault as fault:
            codes[method] = fault.faultCode
    # xmlrpc_handle_exception_int: MissingError 2, AccessError 4, ValueError 1
    assert codes == {"write": 2, "_search_ids": 4, "create": 1}
    denied = call("/xmlrpc/2/object", "execute_kw", sim.db, 2, "bad", "res.partner", "search", [[]])
    try:
        xmlrpc.client.loads(denied.content)
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == 3  # AccessDenied
    # allow_none=False: a None result becomes a fault (addons/rpc/controllers/xmlrpc.py dumps)
    move = xmlrpc.client.loads(
        call(
            "/xmlrpc/2/object",
            "execute_kw",
            sim.db,
            2,
            "admin",
            "account.move",
            "create",
            [{"move_type": "entry"}],
        ).content
    )
    none = call(
        "/xmlrpc/2/object",
        "execute_kw",
        sim.db,
        2,
        "admin",
        "account.move",
        "button_cancel",
        [[move[0][0]]],
    )
    try:
        xmlrpc.client.loads(none.content)
        raise AssertionError("None must not marshal")
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == 1 and "cannot marshal None" in fault.faultString


def test_json2_statuses(
    http: httpx.Client, sim: RunningSim, json2: Callable[..., httpx.Response]
) -> None:
    # addons/rpc/controllers/json2.py + odoo/http.py Json2Dispatcher.handle_error
    ok = json2("res.partner", "search", domain=[["ref", "=", "AZ-001"]])
    assert ok.status_code == 200 and ok.json() == [6]
    assert ok.headers["content-type"] == "application/json; charset=utf-8"
    unauth = json2("res.partner", "search", key="bogus", domain=[])
    assert unauth.status_code == 401 and unauth.headers["www-authenticate"] == "bearer"
    assert unauth.json()["name"] == "werkzeug.exceptions.Unauthorized"
    assert unauth.json()["message"] == "Invalid apikey"
    missing_arg = json2("res.partner", "search")
    assert missing_arg.status_code == 422
    assert missing_arg.json()["message"] == "missing a required argument: 'domain'"
    with_ids = json2("res.partner", "create", ids=[1], vals_list=[{"name": "x"}])
    assert with_ids.status_code == 422
    assert with_ids.json()["message"] == "cannot call res.partner.create with ids"
    no_model = json2("no.such", "search", domain=[])
    assert no_model.status_code == 404
    assert no_model.json()["message"] == "the model 'no.such' does not exist"
    assert json2("res.partner", "nope").status_code == 404
    assert json2("res.partner", "_search_ids", domain=[]).status_code == 403
    assert json2("res.partner", "write", ids=[999999], vals={"name": "x"}).status_code == 404
    invalid = json2("res.partner", "create", vals_list=[{"name": "x", "type": "bogus"}])
    assert invalid.status_code == 500 and invalid.json()["name"] == "builtins.ValueError"
    required = json2("res.users", "create", vals_list=[{"name": "no login"}])
    assert required.status_code == 422
    assert required.json()["name"] == "odoo.exceptions.ValidationError"
    # 18+ BaseModel._sql_error_to_message_generic wording (17 said "Field: Login (login)").
    assert "field 'Login' (login)" in required.json()["message"]
    headers = {"Authorization": f"bearer {sim.api_key}", "Content-Type": "application/json"}
    not_json = http.post("/json/2/res.partner/search", content=b"not json", headers=headers)
    assert not_json.status_code == 400
    assert not_json.json()["message"] == (
        "could not parse the body as json: Expecting value: line 1 column 1 (char 0)"
    )
    assert (
        http.post("/json/2/res.partner/search", content=b"null", headers=headers).status_code == 400
    )
    form = http.post(
        "/json/2/res.partner/search",
        data={"a": "b"},
        headers={"Authorization": f"bearer {sim.api_key}"},
    )
    assert form.status_code == 415
    other_db = http.post(
        "/json/2/res.partner/search",
        json={"domain": []},
        headers={**headers, "X-Odoo-Database": "other"},
    )
    assert other_db.status_code == 404 and other_db.headers["content-type"].startswith("text/html")
    hint = http.get("/json/2/res.partner")
    assert hint.status_code == 404 and "Did you mean" in hint.json()["message"]


def test_introspection_and_version(http: httpx.Client, sim: RunningSim) -> None:
    # addons/api_doc/controllers/api_doc.py doc_model / parse_signature
    doc = http.get(
        "/doc-bearer/res.partner.json", headers={"Authorization": f"bearer {sim.api_key}"}
    ).json()
    assert list(doc["methods"]["search"]["parameters"]) == ["domain", "offset", "limit", "order"]
    assert "model" in doc["methods"]["search"]["api"]
    assert "model" not in doc["methods"]["write"]["api"]
    assert doc["fields"]["type"]["selection"][0] == ["contact", "Contact"]
    assert "_search_ids" not in doc["methods"] and "browse" not in doc["methods"]
    no_session = http.get("/doc/res.partner.json")
    assert (
        no_session.status_code == 403
        and no_session.json()["name"] == "odoo.http.SessionExpiredException"
    )
    portal = http.get(
        "/doc-bearer/res.partner.json", headers={"Authorization": "bearer portal-api-key"}
    )
    assert portal.status_code == 403
    # addons/rpc/controllers/__init__.py version
    assert http.get("/web/version").json() == {
        "version_info": [19, 0, 0, "final", 0, ""],
        "version": "19.0",
    }
    info = http.post("/web/webclient/version_info", json={"jsonrpc": "2.0", "params": {}})
    assert info.json()["result"]["server_serie"] == "19.0"


def test_web_session(http: httpx.Client, sim: RunningSim) -> None:
    # addons/web/controllers/session.py authenticate / dataset.py call_kw
    call = {
        "jsonrpc": "2.0",
        "params": {"model": "res.partner", "method": "search_count", "args": [[]], "kwargs": {}},
    }
    expired = http.post("/web/dataset/call_kw/res.partner/search_count", json=call).json()
    assert expired["error"]["code"] == 100
    wrong = http.post(
        "/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": sim.db, "login": "admin", "password": "nope"}},
    ).json()
    assert wrong["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    login = http.post(
        "/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": sim.db, "login": "admin", "password": "admin"}},
    )
    assert login.json()["result"]["uid"] == 2 and "session_id" in login.cookies
    counted = http.post("/web/dataset/call_kw/res.partner/search_count", json=call).json()
    assert counted["result"] >= 5
    assert "result" not in http.post("/web/session/destroy", json={"params": {}}).json()
