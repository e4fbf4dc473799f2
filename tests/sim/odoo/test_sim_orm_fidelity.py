"""The sim behaves like Odoo 17, 18 and 19 where integrators notice: each test names the Odoo
function (repo odoo/odoo) whose behaviour it pins down.

One seeded sim per major for the whole module, reached over real HTTP on loopback.
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal_sim.odoo.testing import RunningSim, running_sim

MAJORS = (17, 18, 19)


class Rpc:
    """JSON-RPC, XML-RPC and (on 19) JSON-2 calls to one running sim as the admin user."""

    def __init__(self, sim: RunningSim, http: httpx.Client) -> None:
        self.sim = sim
        self.http = http
        self.major = sim.server.major
        self.uid = self.jsonrpc("common", "login", sim.db, sim.login, sim.password)["result"]

    def jsonrpc(self, service: str, method: str, *args: Any) -> dict[str, Any]:
        response = self.http.post(
            "/jsonrpc",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "id": 1,
                "params": {"service": service, "method": method, "args": list(args)},
            },
        )
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def execute_kw(
        self, model: str, method: str, args: list[Any], kw: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.jsonrpc(
            "object",
            "execute_kw",
            self.sim.db,
            self.uid,
            self.sim.password,
            model,
            method,
            args,
            kw or {},
        )

    def ok(self, model: str, method: str, args: list[Any], kw: dict[str, Any] | None = None) -> Any:
        body = self.execute_kw(model, method, args, kw)
        assert "error" not in body, body
        return body.get("result")

    def error(
        self, model: str, method: str, args: list[Any], kw: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = self.execute_kw(model, method, args, kw)
        assert "error" in body, body
        data: dict[str, Any] = body["error"]["data"]
        return data

    def xmlrpc_fault(
        self, model: str, method: str, args: list[Any], kw: dict[str, Any] | None = None
    ) -> xmlrpc.client.Fault:
        proxy = xmlrpc.client.ServerProxy(f"{self.sim.url}/xmlrpc/2/object")
        with pytest.raises(xmlrpc.client.Fault) as fault:
            proxy.execute_kw(
                self.sim.db, self.uid, self.sim.password, model, method, args, kw or {}
            )
        return fault.value

    def json2(self, model: str, method: str, **body: Any) -> httpx.Response:
        return self.http.post(
            f"/json/2/{model}/{method}",
            json=body,
            headers={"Authorization": f"bearer {self.sim.api_key}"},
        )


@pytest.fixture(scope="module")
def rpcs() -> Iterator[dict[int, Rpc]]:
    with (
        running_sim(version=17) as s17,
        running_sim(version=18) as s18,
        running_sim(version=19) as s19,
        httpx.Client(base_url=s17.url, timeout=10) as h17,
        httpx.Client(base_url=s18.url, timeout=10) as h18,
        httpx.Client(base_url=s19.url, timeout=10) as h19,
    ):
        yield {17: Rpc(s17, h17), 18: Rpc(s18, h18), 19: Rpc(s19, h19)}


@pytest.mark.parametrize("major", MAJORS)
def test_create_with_vals_list_as_keyword_fails_like_odoo(rpcs: dict[int, Rpc], major: int) -> None:
    """odoo/service/model.py call_kw (18, 19) and odoo/api.py _call_kw_model_create (17) read
    `args[0]` after create() ran to choose `.id` or `.ids`: values sent as the `vals_list`
    keyword end in IndexError, and the call's transaction is rolled back."""
    rpc = rpcs[major]
    domain = [["ref", "=", f"KW-{major}"]]
    data = rpc.error(
        "res.partner", "create", [], {"vals_list": [{"name": "kw", "ref": f"KW-{major}"}]}
    )
    assert data["name"] == "builtins.IndexError"
    # 17/18 hand call_kw the tuple of execute(*args); 19's dispatch passes the JSON list.
    assert data["message"] == ("list" if major >= 19 else "tuple") + " index out of range"
    assert rpc.ok("res.partner", "search_count", [domain]) == 0
    fault = rpc.xmlrpc_fault("res.partner", "create", [], {"vals_list": [{"name": "kw"}]})
    assert fault.faultCode == 1 and "IndexError" in fault.faultString
    # Positionally: an int for a dict, a list for a list of dicts.
    one = rpc.ok("res.partner", "create", [{"name": "one", "ref": f"KW-{major}"}])
    many = rpc.ok("res.partner", "create", [[{"name": "two", "ref": f"KW-{major}"}]])
    assert isinstance(one, int) and isinstance(many, list) and len(many) == 1
    assert rpc.ok("res.partner", "search_count", [domain]) == 2


def test_private_method_refused_before_any_lookup(rpcs: dict[int, Rpc]) -> None:
    """19's odoo/service/model.py get_public_method refuses `_x` (and _UNSAFE_ATTRIBUTES)
    before looking the method up; 18's looked it up first; 17's check_method_name ran in
    execute() before the model was even found, naming the method alone."""
    r17, r18, r19 = rpcs[17], rpcs[18], rpcs[19]
    assert r19.error("res.partner", "_no_such", [[1]])["name"] == "odoo.exceptions.AccessError"
    assert r19.error("res.partner", "mro", [[1]])["name"] == "odoo.exceptions.AccessError"
    assert r19.xmlrpc_fault("res.partner", "_no_such", [[1]]).faultCode == 4
    refused = r19.json2("res.partner", "_no_such", ids=[1])
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "Private methods (such as 'res.partner._no_such') cannot be called remotely."
    )
    missing = r19.json2("res.partner", "no_such", ids=[1])
    assert missing.status_code == 404
    assert missing.json()["message"] == "The method 'res.partner.no_such' does not exist"
    assert r19.error("res.partner", "no_such", [[1]])["name"] == "builtins.AttributeError"
    # 18: a missing `_x` is missing; an existing one is private.
    assert r18.error("res.partner", "_no_such", [[1]])["name"] == "builtins.AttributeError"
    assert r18.error("res.partner", "_search_ids", [[]])["name"] == "odoo.exceptions.AccessError"
    # 17: refused even on a model that does not exist, message naming the method only.
    data = r17.error("no.such.model", "_no_such", [[1]])
    assert data["name"] == "odoo.exceptions.AccessError"
    assert data["message"] == "Private methods (such as _no_such) cannot be called remotely."
    assert r17.error("no.such.model", "read", [[1]])["name"] == "odoo.exceptions.UserError"


@pytest.mark.parametrize("major", MAJORS)
def test_write_date_keeps_microseconds_and_reads_whole_seconds(
    rpcs: dict[int, Rpc], major: int
) -> None:
    """odoo/sql_db.py BaseCursor.now stamps write_date with now() AT TIME ZONE 'UTC' into a
    `timestamp` column (fields.Datetime._column_type), to the microsecond, in every major;
    Datetime.to_string drops them on read while domains compare the stored value. 17/18's
    odoo/osv/expression.py turns a bare day into 23:59:59 for `>`/`<=` (and 00:00:00 else);
    19's odoo/orm/domains.py _optimize_type_datetime compares whole days (`> d` is `>= d+1`)."""
    rpc = rpcs[major]
    ids = rpc.ok(
        "res.partner", "create", [[{"name": f"wd-{i}", "ref": f"WD-{major}"} for i in range(2)]]
    )
    stamps = ["2031-05-04 23:59:59.250000", "2031-05-04 23:59:59"]
    with rpc.sim.server.db.transaction():
        for rid, stamp in zip(ids, stamps, strict=True):
            rpc.sim.server.db.execute(
                "UPDATE res_partner SET write_date = ? WHERE id = ?", (stamp, rid)
            )
    read = rpc.ok("res.partner", "read", [ids, ["write_date"]])
    assert [r["write_date"] for r in read] == ["2031-05-04 23:59:59"] * 2

    def found(*leaf: Any) -> list[int]:
        result: list[int] = rpc.ok(
            "res.partner", "search", [[["ref", "=", f"WD-{major}"], list(leaf)]], {"order": "id"}
        )
        return result

    assert found("write_date", "=", "2031-05-04 23:59:59") == [ids[1]]
    assert found("write_date", ">", "2031-05-04 23:59:59") == [ids[0]]
    assert found("write_date", ">=", "2031-05-04T23:59:59") == ids
    assert found("write_date", "<", "2031-05-05") == ids
    if major >= 19:
        assert found("write_date", "<=", "2031-05-04") == ids
        assert found("write_date", ">", "2031-05-04") == []
    else:
        assert found("write_date", "<=", "2031-05-04") == [ids[1]]
        assert found("write_date", ">", "2031-05-04") == [ids[0]]
    bad = rpc.error("res.partner", "search", [[["write_date", ">", "soon"]]])
    assert bad["name"] == (
        "builtins.ValueError" if major >= 19 else "psycopg2.errors.InvalidDatetimeFormat"
    )
    # A record written over RPC carries the transaction's microseconds underneath.
    rpc.ok("res.partner", "write", [[ids[1]], {"phone": "+1"}])
    with rpc.sim.server.db.lock:
        raw = rpc.sim.server.db.execute(
            "SELECT write_date FROM res_partner WHERE id = ?", (ids[1],)
        ).fetchone()[0]
    assert raw.startswith(
        rpc.ok("res.partner", "read", [[ids[1]], ["write_date"]])[0]["write_date"]
    )


@pytest.mark.parametrize("major", (18, 19))
def test_integrity_errors_become_validation_errors(rpcs: dict[int, Rpc], major: int) -> None:
    """odoo/service/model.py retrying: an IntegrityError is not retried but answered as
    ValidationError("The operation cannot be completed: <constraint message>"), with
    res.partner's check_name and res.users' login_key (odoo/addons/base/models)."""
    rpc = rpcs[major]
    nameless = rpc.error("res.partner", "create", [{"email": "anon@example.com"}])
    assert nameless["name"] == "odoo.exceptions.ValidationError"
    assert nameless["message"] == "The operation cannot be completed: Contacts require a name"
    address = rpc.ok("res.partner", "create", [{"type": "delivery", "parent_id": 1}])
    assert isinstance(address, int)  # only contacts need a name
    twice = rpc.error("res.users", "create", [{"name": "Twin", "login": "admin"}])
    assert twice["message"] == (
        "The operation cannot be completed: You can not have two users with the same login!"
    )
    if major >= 19:
        response = rpc.json2("res.partner", "create", vals_list=[{"email": "x@example.com"}])
        assert response.status_code == 422
        assert response.json()["name"] == "odoo.exceptions.ValidationError"


@pytest.mark.parametrize("major", (17, 19))
def test_allowed_company_ids_outside_the_users_companies(rpcs: dict[int, Rpc], major: int) -> None:
    """odoo/api.py Environment.company(ies): an `allowed_company_ids` naming a company the
    user does not belong to is an AccessError on the first access; one it has is fine."""
    rpc = rpcs[major]
    data = rpc.error(
        "res.partner", "search_count", [[]], {"context": {"allowed_company_ids": [1, 999]}}
    )
    assert data["name"] == "odoo.exceptions.AccessError"
    assert data["message"] == "Access to unauthorized or invalid companies."
    assert rpc.ok("res.partner", "search_count", [[]], {"context": {"allowed_company_ids": [1]}})
    if major >= 19:
        response = rpc.json2(
            "res.partner", "search", domain=[], context={"allowed_company_ids": [999]}
        )
        assert response.status_code == 403


def test_equality_with_a_list_is_in_on_19(rpcs: dict[int, Rpc]) -> None:
    """odoo/orm/domains.py _operator_equal_as_in (19): `=` with a collection means `in`, an
    empty one means "not set"; 17/18 cannot compare a column with a list."""
    r19 = rpcs[19]
    listed = r19.ok("res.partner", "search", [[["id", "=", [1, 2]]]], {"order": "id"})
    assert listed == r19.ok("res.partner", "search", [[["id", "in", [1, 2]]]], {"order": "id"})
    unset = r19.ok("res.partner", "search_count", [[["parent_id", "=", []]]])
    assert unset == r19.ok("res.partner", "search_count", [[["parent_id", "=", False]]])
    assert r19.ok("res.partner", "search_count", [[["parent_id", "!=", []]]]) == r19.ok(
        "res.partner", "search_count", [[["parent_id", "!=", False]]]
    )
    assert rpcs[18].error("res.partner", "search", [[["id", "=", [1, 2]]]])["name"] == (
        "builtins.ValueError"
    )


@pytest.mark.parametrize("major", (17, 19))
def test_name_search_over_rec_names_search(rpcs: dict[int, Rpc], major: int) -> None:
    """res.partner `_rec_names_search = ['complete_name', 'email', 'ref', 'vat',
    'company_registry']`, tried by BaseModel._search_display_name; complete_name is the
    stored 'Company, Contact' of _compute_complete_name, also the partners' display name."""
    rpc = rpcs[major]
    company = rpc.ok(
        "res.partner",
        "create",
        [{"name": "Zephyr Haulage", "is_company": True, "vat": "BE0477472701"}],
    )
    person = rpc.ok(
        "res.partner",
        "create",
        [
            {
                "name": "Ines Ortega",
                "parent_id": company,
                "email": "ines@zephyr.example",
                "ref": "ZH-7",
            }
        ],
    )
    kwarg = "args" if major <= 17 else "domain"  # name_search's domain was `args` up to 17

    def ids(name: str) -> list[int]:
        return [
            row[0]
            for row in rpc.ok(
                "res.partner", "name_search", [name], {kwarg: [["id", "in", [company, person]]]}
            )
        ]

    assert sorted(ids("Zephyr")) == sorted([company, person])  # the contact's complete_name
    assert ids("ines@zephyr") == [person]
    assert ids("ZH-7") == [person]
    assert ids("BE0477") == [company]
    assert rpc.ok("res.partner", "read", [[person], ["complete_name", "display_name"]])[0] == {
        "id": person,
        "complete_name": "Zephyr Haulage, Ines Ortega",
        "display_name": "Zephyr Haulage, Ines Ortega",
    }
    # A name given for a many2one is a display_name search on the target (_value_to_ids).
    orders = rpc.ok("sale.order", "search_count", [[["partner_id", "ilike", "ines@zephyr"]]])
    assert orders == 0
    rpc.ok("res.partner", "write", [[company], {"name": "Zephyr Logistics"}])
    assert rpc.ok("res.partner", "read", [[person], ["complete_name"]])[0]["complete_name"] == (
        "Zephyr Logistics, Ines Ortega"
    )


@pytest.mark.parametrize("major", (17, 19))
def test_string_ids(rpcs: dict[int, Rpc], major: int) -> None:
    """odoo/models.py browse takes ids as given: a numeric string still matches in SQL
    (PostgreSQL casts '5'), but record '5' is not record 5, so read() skips it and write()
    finds it missing; text that is no number is refused by PostgreSQL."""
    rpc = rpcs[major]
    assert rpc.ok("res.partner", "search", [[["id", "in", ["1"]]]]) == [1]
    assert rpc.ok("res.partner", "read", [["1"], ["name"]]) == []
    assert rpc.error("res.partner", "write", [["1"], {"ref": "S"}])["name"] == (
        "odoo.exceptions.MissingError"
    )
    bad = rpc.error("res.partner", "search", [[["id", "=", "one"]]])
    assert bad["name"] == "psycopg2.errors.InvalidTextRepresentation"
    assert bad["message"] == 'invalid input syntax for type integer: "one"'
    if major >= 19:
        assert rpc.json2("res.partner", "read", ids=["1"], fields=["name"]).json() == []


def test_formatted_read_group(rpcs: dict[int, Rpc]) -> None:
    """odoo/orm/models.py formatted_read_group (19): groupby specs (a many2one as [id, name],
    a date granularity as [start, label]), '__extra_domain' and 'field:agg' / '__count'
    aggregates, with `having` and `order`; older majors do not have it."""
    rpc = rpcs[19]
    partner = rpc.ok("res.partner", "create", [{"name": "Grouping Co", "is_company": True}])
    rpc.ok(
        "sale.order",
        "create",
        [
            [
                {
                    "partner_id": partner,
                    "date_order": "2031-02-10 09:00:00",
                    "client_order_ref": "G1",
                    "order_line": [
                        [0, 0, {"product_id": 3, "product_uom_qty": 1, "price_unit": 100}]
                    ],
                },
                {
                    "partner_id": partner,
                    "date_order": "2031-02-20 09:00:00",
                    "client_order_ref": "G2",
                    "order_line": [
                        [0, 0, {"product_id": 3, "product_uom_qty": 1, "price_unit": 50}]
                    ],
                },
                {
                    "partner_id": partner,
                    "date_order": "2031-03-01 09:00:00",
                    "client_order_ref": "G3",
                },
            ]
        ],
    )
    domain = [["partner_id", "=", partner]]
    groups = rpc.ok(
        "sale.order",
        "formatted_read_group",
        [domain],
        {
            "groupby": ["partner_id", "date_order:month"],
            "aggregates": ["__count", "amount_total:sum"],
            "order": "date_order:month desc",
        },
    )
    assert groups == [
        {
            "partner_id": [partner, "Grouping Co"],
            "date_order:month": ["2031-03-01 00:00:00", "March 2031"],
            "__extra_domain": [
                "&",
                ["partner_id", "=", partner],
                "&",
                ["date_order", ">=", "2031-03-01 00:00:00"],
                ["date_order", "<", "2031-04-01 00:00:00"],
            ],
            "__count": 1,
            "amount_total:sum": 0.0,
        },
        {
            "partner_id": [partner, "Grouping Co"],
            "date_order:month": ["2031-02-01 00:00:00", "February 2031"],
            "__extra_domain": [
                "&",
                ["partner_id", "=", partner],
                "&",
                ["date_order", ">=", "2031-02-01 00:00:00"],
                ["date_order", "<", "2031-03-01 00:00:00"],
            ],
            "__count": 2,
            "amount_total:sum": 150.0,
        },
    ]
    for group in groups:  # a group's domain finds exactly its records
        assert rpc.ok("sale.order", "search_count", [group["__extra_domain"]]) == group["__count"]
    big = rpc.ok(
        "sale.order",
        "formatted_read_group",
        [domain],
        {"groupby": ["state"], "aggregates": ["__count"], "having": [["__count", ">", 2]]},
    )
    assert big == [{"state": "draft", "__extra_domain": [["state", "=", "draft"]], "__count": 3}]
    total = rpc.ok("sale.order", "formatted_read_group", [domain], {"aggregates": ["__count"]})
    assert total == [{"__extra_domain": [[1, "=", 1]], "__count": 3}]
    assert (
        rpc.error("sale.order", "formatted_read_group", [domain], {"groupby": ["date_order"]})[
            "message"
        ]
        == "Granularity not set on a date(time) field: 'date_order'"
    )
    assert rpcs[18].error("sale.order", "formatted_read_group", [domain])["name"] == (
        "builtins.AttributeError"
    )


@pytest.mark.parametrize("major", (17, 19))
def test_web_search_read_by_specification(rpcs: dict[int, Rpc], major: int) -> None:
    """addons/web/models/models.py web_search_read / web_read: many2one as {id,
    display_name} when asked for, x2many as dicts, `length` counted when the page is full."""
    rpc = rpcs[major]
    spec = {
        "name": {},
        "partner_id": {"fields": {"display_name": {}}},
        "order_line": {"fields": {"product_uom_qty": {}}},
        "state": {},
    }
    page = rpc.ok("sale.order", "web_search_read", [[], spec], {"limit": 1, "order": "id"})
    total = rpc.ok("sale.order", "search_count", [[]])
    assert page["length"] == total and len(page["records"]) == 1
    record = page["records"][0]
    assert set(record) == {"id", "name", "partner_id", "order_line", "state"}
    assert set(record["partner_id"]) == {"id", "display_name"}
    assert all(set(line) == {"id", "product_uom_qty"} for line in record["order_line"])
    plain = rpc.ok(
        "sale.order", "web_search_read", [[["id", "=", record["id"]]], {"partner_id": {}}]
    )
    assert plain == {
        "length": 1,
        "records": [{"id": record["id"], "partner_id": record["partner_id"]["id"]}],
    }


@pytest.mark.parametrize("major", (18, 19))
def test_name_create_and_copy(rpcs: dict[int, Rpc], major: int) -> None:
    """odoo/models.py name_create and copy/copy_data: res.partner's name_create reads
    'Name <email>', its copy is '<name> (copy)'; copy=False fields are left out and copy
    answers an id up to 18 (@api.returns) and a list of ids in 19."""
    rpc = rpcs[major]
    rid, label = rpc.ok("res.partner", "name_create", ["Olga Brandt <OLGA@Brandt.example>"])
    assert label == "Olga Brandt"
    assert rpc.ok("res.partner", "read", [[rid], ["email"]])[0]["email"] == "olga@brandt.example"
    uom, uom_label = rpc.ok("uom.uom", "name_create", ["Pallet places"])
    assert uom_label == "Pallet places"
    assert rpc.ok("uom.uom", "read", [[uom], ["name"]]) == [{"id": uom, "name": "Pallet places"}]
    copied = rpc.ok("res.partner", "copy", [[rid]])
    copy_id = copied[0] if major >= 19 else copied
    assert isinstance(copy_id, int) and (major < 19 or copied == [copy_id])
    assert rpc.ok("res.partner", "read", [[copy_id], ["name", "email"]])[0] == {
        "id": copy_id,
        "name": "Olga Brandt (copy)",
        "email": "olga@brandt.example",
    }
    order = rpc.ok(
        "sale.order",
        "create",
        [
            {
                "partner_id": rid,
                "client_order_ref": "PO-C",
                "order_line": [[0, 0, {"product_id": 3}]],
            }
        ],
    )
    copied = rpc.ok("sale.order", "copy", [[order]], {"default": {"note": "again"}})
    new = copied[0] if major >= 19 else copied
    fields = ["name", "client_order_ref", "order_line", "note", "state"]
    old_row, new_row = rpc.ok("sale.order", "read", [[order, new], fields])
    assert new_row["name"] != old_row["name"] and new_row["client_order_ref"] is False
    assert new_row["note"] == "again" and new_row["state"] == "draft"
    assert len(new_row["order_line"]) == 1 and new_row["order_line"] != old_row["order_line"]


def test_sale_line_fields_and_incoterm_names(rpcs: dict[int, Rpc]) -> None:
    """addons/sale/models/sale_order_line.py: 19 renamed tax_id/product_uom to
    tax_ids/product_uom_id; addons/account/models/account_incoterms.py
    _compute_display_name: '[DDP] DELIVERED DUTY PAID'."""
    for major, names in ((18, ("tax_id", "product_uom")), (19, ("tax_ids", "product_uom_id"))):
        fields = rpcs[major].ok("sale.order.line", "fields_get", [], {"attributes": ["type"]})
        assert {fields[n]["type"] for n in names} == {"many2many", "many2one"}
        assert not {"tax_id", "product_uom", "tax_ids", "product_uom_id"} - set(names) & set(fields)
    rpc = rpcs[19]
    ddp = rpc.ok("account.incoterms", "search", [[["code", "=", "DDP"]]])
    assert rpc.ok("account.incoterms", "read", [ddp, ["display_name"]])[0]["display_name"] == (
        "[DDP] DELIVERED DUTY PAID"
    )
    tax = rpc.ok("account.tax", "create", [{"name": "VAT 21%", "amount": 21.0}])
    line = rpc.ok(
        "sale.order.line",
        "create",
        [{"order_id": 1, "product_id": 3, "tax_ids": [[6, 0, [tax]]], "product_uom_id": 1}],
    )
    assert rpc.ok("sale.order.line", "read", [[line], ["tax_ids", "product_uom_id"]])[0] == {
        "id": line,
        "tax_ids": [tax],
        "product_uom_id": [1, "Units"],
    }


NAMES = st.sampled_from(
    ["name", "state", "partner_id", "date_order", "date_order:month", "date_order:week",
     "__count", "amount_total:sum", "amount_total", "x:y", "id", "order_line", ""]
)  # fmt: skip
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), NAMES, st.text(max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=6,
)
CALLS = {
    "formatted_read_group": ("sale.order", ["domain", "groupby", "aggregates", "having",
                                            "order", "limit", "offset"]),
    "web_search_read": ("sale.order", ["domain", "specification", "limit", "order",
                                       "count_limit", "offset"]),
    "web_read": ("sale.order", ["ids", "specification"]),
    "name_create": ("res.partner", ["name"]),
    "copy": ("res.partner", ["ids", "default"]),
    "name_search": ("res.partner", ["name", "domain", "operator", "limit"]),
}  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), method=st.sampled_from(sorted(CALLS)))
def test_hostile_arguments_to_generic_methods(
    rpcs: dict[int, Rpc], data: st.DataObject, method: str
) -> None:
    """Any arguments to the generic methods get a result or Odoo's JSON error body
    (odoo/http.py Json2Dispatcher.handle_error), and a refused call writes nothing."""
    rpc = rpcs[19]
    model, params = CALLS[method]
    body = data.draw(st.dictionaries(st.sampled_from(params), VALUES, max_size=len(params)))
    count = rpc.json2("res.partner", "search_count", domain=[], context={"active_test": False})
    response = rpc.json2(model, method, **body)
    if response.status_code == 200:
        return
    assert set(response.json()) == {"name", "message", "arguments", "context", "debug"}
    after = rpc.json2("res.partner", "search_count", domain=[], context={"active_test": False})
    assert after.json() == count.json()
