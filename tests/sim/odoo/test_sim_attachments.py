"""ir.attachment on the Odoo test server as odoo/addons/base/models/ir_attachment.py (19.0)
stores and guards it.

Imitated: `create` / `write` (`datas` decoded, `_get_datas_related_values`: checksum SHA-1,
file_size, store_fname `<2 hex>/<sha1>` shared by identical content; `_compute_mimetype`:
given, else by name, else by content), `_compute_datas` (base64, or the size with
`bin_size`), `_check_access` / `_inaccessible_comodel_records` (read needs read on the
record, create/write/unlink need write; an attachment of no record is its creator's),
`_search` (no `res_field` attachments unless the domain names it or `id`),
`_check_serving_attachments`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from intermodal_sim.odoo.errors import AccessError
from intermodal_sim.odoo.testing import RunningSim

DEMO_KEY = "demo-api-key"  # Marc Demo: employee, salesman; reads invoices, cannot write them
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def ok(json2: Callable[..., httpx.Response], model: str, method: str, **body: Any) -> Any:
    response = json2(model, method, **body)
    assert response.status_code == 200, response.text
    return response.json()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def order(json2: Callable[..., httpx.Response]) -> int:
    (partner,) = ok(json2, "res.partner", "search", domain=[["name", "=", "Deco Addict"]])
    return int(ok(json2, "sale.order", "create", vals_list=[{"partner_id": partner}])[0])


def test_a_file_is_stored_by_its_sha1_and_read_back(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    first, second, unnamed = ok(
        json2,
        "ir.attachment",
        "create",
        vals_list=[
            {"name": "POD.pdf", "res_model": "sale.order", "res_id": order, "datas": b64(PDF)},
            {"name": "copy", "res_model": "sale.order", "res_id": order, "datas": b64(PDF)},
            {
                "name": "notes",
                "res_model": "sale.order",
                "res_id": order,
                "datas": b64(b"plain text"),
            },
        ],
    )
    rows = ok(
        json2,
        "ir.attachment",
        "read",
        ids=[first, second, unnamed],
        fields=[
            "checksum",
            "file_size",
            "store_fname",
            "mimetype",
            "datas",
            "type",
            "res_name",
            "index_content",
        ],
    )
    sha = hashlib.sha1(PDF).hexdigest()
    assert [(r["checksum"], r["file_size"]) for r in rows[:2]] == [(sha, len(PDF))] * 2
    assert rows[0]["store_fname"] == rows[1]["store_fname"] == f"{sha[:2]}/{sha}"
    assert rows[0]["mimetype"] == "application/pdf"  # by name
    assert rows[1]["mimetype"] == "application/pdf"  # by content
    assert rows[2]["mimetype"] == "text/plain" and rows[2]["index_content"] == "plain text"
    assert base64.b64decode(rows[0]["datas"]) == PDF and rows[0]["type"] == "binary"
    assert rows[0]["res_name"].startswith("S")
    (sized,) = ok(
        json2, "ir.attachment", "read", ids=[first], fields=["datas"], context={"bin_size": True}
    )
    assert sized["datas"] == f"{len(PDF)} bytes"
    found = ok(
        json2,
        "ir.attachment",
        "search_read",
        domain=[["res_model", "=", "sale.order"], ["res_id", "=", order], ["checksum", "=", sha]],
        fields=["name"],
    )
    assert sorted(r["name"] for r in found) == ["POD.pdf", "copy"]


def test_a_given_mimetype_wins_and_a_link_has_no_content(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    given, link = ok(
        json2,
        "ir.attachment",
        "create",
        vals_list=[
            {
                "name": "scan",
                "res_model": "sale.order",
                "res_id": order,
                "datas": b64(PDF),
                "mimetype": "image/tiff",
            },
            {
                "name": "Tracking",
                "type": "url",
                "url": "https://track.example/1.html",
                "res_model": "sale.order",
                "res_id": order,
            },
        ],
    )
    rows = ok(
        json2,
        "ir.attachment",
        "read",
        ids=[given, link],
        fields=["mimetype", "file_size", "datas", "url"],
    )
    assert rows[0]["mimetype"] == "image/tiff"
    assert rows[1]["mimetype"] == "text/html" and rows[1]["file_size"] == 0
    assert rows[1]["datas"] == ""


def test_bad_base64_is_refused_and_nothing_is_stored(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """create decodes `datas` with base64.b64decode: a bad padding raises binascii.Error."""
    before = ok(json2, "ir.attachment", "search_count", domain=[["res_id", "=", order]])
    response = json2(
        "ir.attachment",
        "create",
        vals_list=[{"name": "x", "res_model": "sale.order", "res_id": order, "datas": "abc"}],
    )
    assert response.status_code == 500 and response.json()["name"] == "binascii.Error"
    assert ok(json2, "ir.attachment", "search_count", domain=[["res_id", "=", order]]) == before


def test_access_follows_the_record(json2: Callable[..., httpx.Response], order: int) -> None:
    """The demo user may attach to a sale order (salesman: write) and read an invoice's
    files, but not attach to or change an invoice (no write on account.move)."""
    (customer,) = ok(json2, "res.partner", "search", domain=[["name", "=", "Deco Addict"]])
    (move,) = ok(
        json2,
        "account.move",
        "create",
        vals_list=[{"move_type": "out_invoice", "partner_id": customer}],
    )
    mine = json2(
        "ir.attachment",
        "create",
        key=DEMO_KEY,
        vals_list=[
            {"name": "a.txt", "res_model": "sale.order", "res_id": order, "datas": b64(b"hello")}
        ],
    )
    assert mine.status_code == 200, mine.text
    refused = json2(
        "ir.attachment",
        "create",
        key=DEMO_KEY,
        vals_list=[
            {"name": "b.txt", "res_model": "account.move", "res_id": move, "datas": b64(b"hello")}
        ],
    )
    assert refused.status_code == 403
    assert refused.json()["message"] == "Sorry, you are not allowed to access this document."
    (invoice_file,) = ok(
        json2,
        "ir.attachment",
        "create",
        vals_list=[
            {"name": "inv.txt", "res_model": "account.move", "res_id": move, "datas": b64(b"x")}
        ],
    )
    readable = json2("ir.attachment", "read", key=DEMO_KEY, ids=[invoice_file], fields=["name"])
    assert readable.status_code == 200 and readable.json()[0]["name"] == "inv.txt"
    changed = json2(
        "ir.attachment", "write", key=DEMO_KEY, ids=[invoice_file], vals={"name": "renamed"}
    )
    assert changed.status_code == 403
    assert "(Operation: write)" in changed.json()["message"]
    gone = json2("ir.attachment", "unlink", key=DEMO_KEY, ids=[invoice_file])
    assert gone.status_code == 403 and "(Operation: unlink)" in gone.json()["message"]


def test_only_the_creator_sees_an_attachment_of_no_record_and_searches_skip_field_files(
    sim: RunningSim,
) -> None:
    """_check_access: no res_id -> the creator's (or a system user's); _search adds
    `res_field = False` unless the domain names res_field or id."""
    server = sim.server
    with server.db.transaction():
        demo = int(server.db.execute("SELECT id FROM res_users WHERE login = 'demo'").fetchone()[0])
        admin = server.env(2)
        orphan = int(admin["ir.attachment"].create({"name": "orphan", "datas": b64(b"o")}).id)
        field_file = int(
            admin["ir.attachment"]
            .create(
                {
                    "name": "image_1920",
                    "res_model": "res.partner",
                    "res_id": 1,
                    "res_field": "image_1920",
                    "datas": b64(b"img"),
                }
            )
            .id
        )
        as_demo = server.env(demo)["ir.attachment"]
        with pytest.raises(AccessError, match=r"\(Operation: read\)"):
            as_demo.browse([orphan]).read(["name"])
        assert orphan not in as_demo.search([["name", "=", "orphan"]]).ids
        assert admin["ir.attachment"].search([["id", "=", orphan]]).ids == [orphan]
        assert admin["ir.attachment"].search([["res_model", "=", "res.partner"]]).ids == []
        assert admin["ir.attachment"].search([["res_field", "=", "image_1920"]]).ids == [field_file]
        server.db.execute("DELETE FROM ir_attachment WHERE id IN (?, ?)", (orphan, field_file))


def test_a_served_binary_needs_the_system_group(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """_check_serving_attachments: a binary attachment with a url could be served by the
    http dispatcher; only the system group may create one."""
    response = json2(
        "ir.attachment",
        "create",
        key=DEMO_KEY,
        vals_list=[
            {
                "name": "x",
                "type": "binary",
                "url": "/web/x",
                "res_model": "sale.order",
                "res_id": order,
                "datas": b64(b"x"),
            }
        ],
    )
    assert response.status_code == 422
    assert response.json()["message"] == "Sorry, you are not allowed to write on this document"
