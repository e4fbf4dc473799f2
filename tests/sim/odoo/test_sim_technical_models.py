"""Actions, scheduled actions, menus, modules, languages and login records over JSON-RPC.

What each test checks is cited from repo odoo/odoo (19.0): the model file and function.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal_sim.odoo.testing import RunningSim

Execute = Callable[..., Any]
JPEG = base64.b64decode(
    "/9j/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8Q"
    "EBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


class RpcError(Exception):
    """A JSON-RPC error envelope: `data` is serialize_exception's dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data["message"])
        self.data = data


@pytest.fixture
def execute(jsonrpc: Callable[..., dict[str, Any]], sim: RunningSim) -> Execute:
    """object.execute_kw as admin; raises RpcError for an error envelope."""

    def call(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        body = jsonrpc(
            "object", "execute_kw", sim.db, 2, "admin", model, method, list(args), kwargs
        )
        if "error" in body:
            raise RpcError(body["error"]["data"])
        return body.get("result")

    return call


def ref(execute: Execute, xmlid: str) -> int:
    module, name = xmlid.split(".")
    return int(execute("ir.model.data", "check_object_reference", module, name)[1])


# -- ir.actions.* ---------------------------------------------------------------------------


def test_every_action_kind_shares_one_id_sequence(execute: Execute) -> None:
    """base_data.sql: ir_act_window, ir_act_report_xml, ... inherit ir_actions, so
    ir.actions.actions reads any action by its id; writes and deletes keep the two in step."""
    window = ref(execute, "base.action_partner_form")
    report = execute(
        "ir.actions.report",
        "create",
        {"name": "Picking labels", "model": "stock.picking", "report_name": "stock.label_picking"},
    )
    client = execute("ir.actions.client", "create", {"name": "Reload", "tag": "reload"})
    assert len({window, report, client}) == 3
    rows = execute("ir.actions.actions", "read", [window, report, client], ["name", "type"])
    assert [r["type"] for r in rows] == [
        "ir.actions.act_window",
        "ir.actions.report",
        "ir.actions.client",
    ]
    execute("ir.actions.report", "write", [report], {"name": "Labels"})
    assert execute("ir.actions.actions", "read", [report], ["name"])[0]["name"] == "Labels"
    execute("ir.actions.actions", "write", [report], {"name": "Labels 2"})
    assert execute("ir.actions.report", "read", [report], ["name"])[0]["name"] == "Labels 2"
    assert execute("ir.actions.actions", "unlink", [report, client]) is True
    assert execute("ir.actions.report", "search", [("id", "=", report)]) == []
    assert execute("ir.actions.actions", "read", [report], ["name"]) == []


def test_reports_listed_per_model_as_odoorpc_lists_them(execute: Execute) -> None:
    """odoorpc/report.py list(): ir.actions.report search + read of name, model,
    report_name, report_type; account/views/account_report.xml's invoice reports."""
    reports = execute(
        "ir.actions.report", "search_read", [], ["name", "model", "report_name", "report_type"]
    )
    by_model: dict[str, set[str]] = {}
    for report in reports:
        by_model.setdefault(report["model"], set()).add(report["report_name"])
    assert {"account.report_invoice", "account.report_invoice_with_payments"} <= by_model[
        "account.move"
    ]
    assert "web.preview_internalreport" in by_model["res.company"]
    assert {r["report_type"] for r in reports} == {"qweb-pdf"}


def test_the_report_service_is_gone(jsonrpc: Callable[..., dict[str, Any]]) -> None:
    """odoo/http.py dispatch_rpc knows common, db and object: 'report' is a KeyError."""
    body = jsonrpc("report", "render_report", "intermodal", 2, "admin", "x", [1])
    assert body["error"]["data"]["name"] == "builtins.KeyError"
    assert body["error"]["data"]["message"] == "'report'"


def test_workflows_are_gone(jsonrpc: Callable[..., dict[str, Any]], sim: RunningSim) -> None:
    """odoo/service/model.py dispatch: only execute and execute_kw; exec_workflow (removed in
    11, which is why OdooRPC raises DeprecationWarning before calling) is a NameError."""
    body = jsonrpc("object", "exec_workflow", sim.db, 2, "admin", "sale.order", "confirm", 1)
    assert body["error"]["data"]["name"] == "builtins.NameError"
    assert body["error"]["data"]["message"] == "Method not available exec_workflow"


# -- ir.cron --------------------------------------------------------------------------------


def test_cron_inherits_its_server_action(execute: Execute) -> None:
    """ir_cron.py: _inherits ir.actions.server; create forces usage 'ir_cron' and
    default_get state 'code'; defaults interval 1 'never', priority 5; cron_name follows
    the action's name."""
    model_id = execute("ir.model", "search", [("model", "=", "res.partner")])[0]
    defaults = execute("ir.cron", "default_get", ["state", "interval_type", "priority"])
    assert defaults == {"state": "code", "interval_type": "never", "priority": 5}
    cron = execute(
        "ir.cron", "create", {"name": "Nightly", "model_id": model_id, "code": "model.browse()"}
    )
    row = execute(
        "ir.cron",
        "read",
        [cron],
        [
            "name",
            "cron_name",
            "usage",
            "state",
            "active",
            "interval_number",
            "ir_actions_server_id",
            "user_id",
        ],
    )[0]
    assert row["name"] == row["cron_name"] == "Nightly"
    assert (row["usage"], row["state"], row["active"]) == ("ir_cron", "code", True)
    assert row["interval_number"] == 1 and row["user_id"][0] == 2
    server = row["ir_actions_server_id"][0]
    assert execute("ir.actions.actions", "read", [server], ["type"])[0]["type"] == (
        "ir.actions.server"
    )
    execute("ir.cron", "write", [cron], {"name": "Nightly run"})
    assert execute("ir.cron", "read", [cron], ["cron_name"])[0]["cron_name"] == "Nightly run"
    for bad in (0, -3):
        with pytest.raises(RpcError) as refused:
            execute("ir.cron", "write", [cron], {"interval_number": bad})
        assert refused.value.data["name"] == "odoo.exceptions.ValidationError"
        assert refused.value.data["message"] == (
            "The operation cannot be completed: "
            "The interval number must be a strictly positive number."
        )
    execute("ir.cron", "write", [cron], {"active": False})
    assert cron not in execute("ir.cron", "search", [])
    assert cron in execute("ir.cron", "search", [], context={"active_test": False})


def test_direct_trigger_runs_the_autovacuum(
    execute: Execute, jsonrpc: Callable[..., dict[str, Any]], sim: RunningSim
) -> None:
    """method_direct_trigger on base.autovacuum_job: _gc_user_logs keeps each user's last
    login record; lastcall is set and nextcall moves past now."""
    for _ in range(3):
        assert jsonrpc("common", "login", sim.db, "demo", "demo")["result"] == 3
    cron = ref(execute, "base.autovacuum_job")
    assert execute("ir.cron", "read", [cron], ["name"])[0]["name"] == (
        "Base: Auto-vacuum internal data"
    )
    assert execute("ir.cron", "method_direct_trigger", [cron]) is True
    logs = execute("res.users.log", "search_count", [("create_uid", "=", 3)])
    assert logs == 1
    row = execute("ir.cron", "read", [cron], ["lastcall", "nextcall", "failure_count"])[0]
    assert row["lastcall"] and row["nextcall"] > row["lastcall"]
    assert row["failure_count"] == 0


def test_direct_trigger_of_code_the_sim_cannot_run(execute: Execute) -> None:
    """The sim does not run Python: it answers as method_direct_trigger does for a job that
    failed (a display_exception client action) and counts the failure."""
    model_id = execute("ir.model", "search", [("model", "=", "res.partner")])[0]
    cron = execute(
        "ir.cron", "create", {"name": "Custom", "model_id": model_id, "code": "model._do_things()"}
    )
    action = execute("ir.cron", "method_direct_trigger", [cron])
    assert action["type"] == "ir.actions.client" and action["tag"] == "display_exception"
    assert "does not run server action code" in action["params"]["data"]["message"]
    assert execute("ir.cron", "read", [cron], ["failure_count"])[0]["failure_count"] == 1


# -- ir.ui.menu and the reference field -----------------------------------------------------


def test_menu_action_is_a_reference(execute: Execute) -> None:
    """ir_ui_menu.py action = fields.Reference; fields.py Reference.convert_to_cache: a model
    of the selection, a record that exists, else nothing stored; _get_full_name."""
    described = execute("ir.ui.menu", "fields_get", ["action"])["action"]
    assert described["type"] == "reference"
    assert ["ir.actions.act_window", "ir.actions.act_window"] in described["selection"]
    window = ref(execute, "sale.action_orders")
    parent = ref(execute, "sale.sale_menu_root")
    defaults = execute("ir.ui.menu", "default_get", ["sequence", "active", "action"])
    assert defaults == {"sequence": 10, "active": True}
    menu = execute(
        "ir.ui.menu",
        "create",
        {"name": "Late orders", "parent_id": parent, "action": f"ir.actions.act_window,{window}"},
    )
    row = execute("ir.ui.menu", "read", [menu], ["action", "complete_name"])[0]
    assert row == {
        "id": menu,
        "action": f"ir.actions.act_window,{window}",
        "complete_name": "Sales/Late orders",
    }
    execute("ir.ui.menu", "write", [menu], {"action": "ir.actions.act_window,999999"})
    assert execute("ir.ui.menu", "read", [menu], ["action"])[0]["action"] is False
    for bad in ("res.partner,1", "ir.actions.act_window", "ir.actions.act_window,x", 12):
        with pytest.raises(RpcError) as refused:
            execute("ir.ui.menu", "write", [menu], {"action": bad})
        assert refused.value.data["name"] == "builtins.ValueError"
    with pytest.raises(RpcError, match="You cannot create recursive menus"):
        execute("ir.ui.menu", "write", [parent], {"parent_id": menu})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.booleans()))
def test_any_reference_value_is_stored_or_refused(execute: Execute, value: Any) -> None:
    """A reference write either stores 'model,id' (or nothing) or fails as an RPC error; the
    stored value always reads back as a model of the selection and a record that exists."""
    menu = ref(execute, "sale.menu_sale_order")
    try:
        execute("ir.ui.menu", "write", [menu], {"action": value})
    except RpcError as exc:
        assert exc.data["name"] in ("builtins.ValueError", "builtins.TypeError")
    stored = execute("ir.ui.menu", "read", [menu], ["action"])[0]["action"]
    if stored:
        model, rid = stored.split(",")
        assert execute(model, "search_count", [("id", "=", int(rid))]) == 1


# -- ir.module.module, res.lang -------------------------------------------------------------


def test_modules_installed_and_immediate_install(execute: Execute) -> None:
    """ir_module.py: installed modules; button_immediate_install answers the reload client
    action; _get_views lists a module's reports and menus from ir.model.data."""
    sale = execute(
        "ir.module.module",
        "search_read",
        [("name", "=", "sale")],
        ["state", "menus_by_module", "reports_by_module", "views_by_module"],
    )[0]
    assert sale["state"] == "installed"
    assert "Sales/Orders" in sale["menus_by_module"].split("\n")
    assert sale["reports_by_module"] == "Quotation / Order"
    assert sale["views_by_module"] == ""
    action = execute("ir.module.module", "button_immediate_install", [sale["id"]])
    assert action["type"] == "ir.actions.client" and action["tag"] == "reload"
    assert execute("ir.module.module", "search", [("name", "=", "crm")]) == []


def test_languages_and_user_context(execute: Execute) -> None:
    """res_lang.py get_installed; res_users.py context_get: lang (an installed one), tz as
    read, uid."""
    assert execute("res.lang", "get_installed") == [["en_US", "English (US)"]]
    english = execute("res.lang", "read", [ref(execute, "base.lang_en")], ["code"])
    assert english[0]["code"] == "en_US"
    assert execute("res.users", "context_get") == {
        "lang": "en_US",
        "tz": "Europe/Brussels",
        "uid": 2,
    }


# -- res.users ------------------------------------------------------------------------------


def test_login_leaves_a_log_and_confirms_the_user(
    execute: Execute, jsonrpc: Callable[..., dict[str, Any]], sim: RunningSim
) -> None:
    """res_users.py _login -> _update_last_login; login_date = related('log_ids.create_date');
    auth_signup's state: 'active' once logged in, 'new' before."""
    uid = execute("res.users", "create", {"name": "Log Tester", "login": "log.tester"})
    execute("res.users", "write", [uid], {"email": "log@tester.example"})
    row = execute("res.users", "read", [uid], ["login_date", "state", "log_ids"])[0]
    assert row == {"id": uid, "login_date": False, "state": "new", "log_ids": []}
    assert jsonrpc("common", "login", sim.db, "log.tester", "wrong")["result"] is False
    assert execute("res.users.log", "search_count", [("create_uid", "=", uid)]) == 0
    jsonrpc("common", "login", sim.db, "demo", "demo")
    demo = execute("res.users", "read", [3], ["login_date", "state"])[0]
    assert demo["state"] == "active" and len(demo["login_date"]) == 19


def test_users_delegate_to_their_partner(execute: Execute) -> None:
    """res_users.py _inherits res.partner: partner fields read and write through the user."""
    uid = execute(
        "res.users", "create", {"name": "Dana Delegate", "login": "dana", "street": "1 Quay"}
    )
    row = execute(
        "res.users", "read", [uid], ["street", "credit_limit", "child_ids", "partner_id", "comment"]
    )[0]
    assert (row["street"], row["credit_limit"], row["child_ids"], row["comment"]) == (
        "1 Quay",
        0.0,
        [],
        False,
    )
    execute("res.users", "write", [uid], {"street": "2 Quay", "name": "Dana D."})
    partner = execute("res.partner", "read", [row["partner_id"][0]], ["street", "name"])[0]
    assert (partner["street"], partner["name"]) == ("2 Quay", "Dana D.")


def test_internal_users_get_an_initials_avatar(execute: Execute) -> None:
    """res_users.py create + avatar_mixin.py _avatar_generate_svg; share users get none."""
    uid = execute("res.users", "create", {"name": "zoe Avatar", "login": "zoe"})
    svg = base64.b64decode(execute("res.users", "read", [uid], ["image_1920"])[0]["image_1920"])
    assert svg.startswith(b"<?xml version='1.0' encoding='UTF-8' ?><svg height='180'")
    assert b">Z</text>" in svg and b"fill='hsl(" in svg
    portal = execute("res.users", "read", [4], ["image_1920"])[0]
    assert portal["image_1920"] is False


def test_user_checks(execute: Execute) -> None:
    """res_users.py: _login_key UNIQUE(login) as _as_validation_error words it; write: nobody
    archives themselves; _check_action_id refuses a reload action."""
    with pytest.raises(RpcError) as duplicate:
        execute("res.users", "create", {"name": "Again", "login": "demo"})
    assert duplicate.value.data["name"] == "odoo.exceptions.ValidationError"
    assert duplicate.value.data["message"] == (
        "The operation cannot be completed: You can not have two users with the same login!"
    )
    with pytest.raises(RpcError, match="two users with the same login"):
        execute("res.users", "write", [3], {"login": "admin"})
    with pytest.raises(RpcError, match="You cannot deactivate the user you're currently"):
        execute("res.users", "write", [2], {"active": False})
    reload = execute("ir.actions.client", "create", {"name": "Reload it", "tag": "reload"})
    with pytest.raises(RpcError, match='The "Reload it" action cannot be selected as home'):
        execute("res.users", "write", [3], {"action_id": reload})
    window = ref(execute, "base.action_partner_form")
    execute("res.users", "write", [3], {"action_id": window})
    assert execute("res.users", "read", [3], ["action_id"])[0]["action_id"][0] == window
    execute("res.users", "write", [3], {"action_id": False})


# -- binary fields --------------------------------------------------------------------------


def test_image_field_round_trip(execute: Execute) -> None:
    """fields.Binary reads back canonical base64 of what was stored; fields.Image refuses
    what does not decode as an image (odoo/tools/image.py), bad base64 fails in b64decode;
    an empty value stores nothing."""
    partner = execute("res.partner", "create", {"name": "Pictured"})
    chunked = base64.encodebytes(JPEG).decode()  # with newlines, as a client may send it
    execute("res.partner", "write", [partner], {"image_1920": chunked})
    stored = execute("res.partner", "read", [partner], ["image_1920"])[0]["image_1920"]
    assert stored == base64.b64encode(JPEG).decode()
    with pytest.raises(RpcError) as not_image:
        execute(
            "res.partner",
            "write",
            [partner],
            {"image_1920": base64.b64encode(b"%PDF-1.7").decode()},
        )
    assert not_image.value.data["name"] == "odoo.exceptions.UserError"
    assert not_image.value.data["message"] == "This file could not be decoded as an image file."
    with pytest.raises(RpcError) as bad:
        execute("res.partner", "write", [partner], {"image_1920": "abc"})
    assert bad.value.data["name"] == "binascii.Error"
    assert execute("res.partner", "read", [partner], ["image_1920"])[0]["image_1920"] == stored
    execute("res.partner", "write", [partner], {"image_1920": ""})
    assert execute("res.partner", "read", [partner], ["image_1920"])[0]["image_1920"] is False


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=64))
def test_any_bytes_are_stored_exactly_or_refused(execute: Execute, raw: bytes) -> None:
    partner = ref(execute, "base.main_partner")
    before = execute("res.partner", "read", [partner], ["image_1920"])[0]["image_1920"]
    encoded = base64.b64encode(raw).decode()
    try:
        execute("res.partner", "write", [partner], {"image_1920": encoded})
    except RpcError as exc:
        assert exc.data["name"] == "odoo.exceptions.UserError"
        assert execute("res.partner", "read", [partner], ["image_1920"])[0]["image_1920"] == (
            before
        )
    else:
        after = execute("res.partner", "read", [partner], ["image_1920"])[0]["image_1920"]
        assert after == (encoded or False)
    execute("res.partner", "write", [partner], {"image_1920": before})
