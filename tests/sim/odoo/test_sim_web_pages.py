"""What a person who opens the sim in a browser gets: a landing page at `/` instead of a
404, and a record at the address Odoo 18 and later give it (`/odoo/<model>/<id>`)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from intermodal_sim.odoo.testing import RunningSim


def test_the_root_says_which_database_how_to_log_in_and_where_the_apis_are(
    http: httpx.Client, sim: RunningSim
) -> None:
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert f"<b>{sim.db}</b>" in text
    assert "<code>admin</code>, password <code>admin</code>" in text
    for endpoint in ("/json/2/&lt;model&gt;/&lt;method&gt;", "/jsonrpc", "/xmlrpc/2/"):
        assert endpoint in text, endpoint
    assert http.get("/odoo").status_code == 200
    assert http.get("/no/such/page").status_code == 404  # still Odoo's 404 elsewhere


def test_a_record_opens_read_only_at_its_odoo_path(
    http: httpx.Client, json2: Callable[..., httpx.Response]
) -> None:
    (partner_id,) = json2("res.partner", "create", vals_list=[{"name": "Dock <7> & Co"}]).json()
    (order_id,) = json2(
        "sale.order", "create", vals_list=[{"partner_id": partner_id, "client_order_ref": "PO-9"}]
    ).json()
    (name,) = [
        r["name"] for r in json2("sale.order", "read", ids=[order_id], fields=["name"]).json()
    ]
    page = http.get(f"/odoo/sale.order/{order_id}")
    assert page.status_code == 200
    assert f"<h1>{name}</h1>" in page.text
    assert "PO-9" in page.text
    assert "Dock &lt;7&gt; &amp; Co" in page.text  # the many2one by its name, escaped
    partner = http.get(f"/odoo/res.partner/{partner_id}")
    assert partner.status_code == 200 and "<h1>Dock &lt;7&gt; &amp; Co</h1>" in partner.text
    assert http.get("/odoo/sale.order/987654").status_code == 404
    assert http.get("/odoo/no.such.model/1").status_code == 404


def test_an_old_web_link_is_rewritten_to_the_record_path(http: httpx.Client) -> None:
    """`/web#model=...&id=...` reaches the server as `/web`: the page's script turns the
    fragment into the path, as Odoo's router does in the browser."""
    page = http.get("/web")
    assert page.status_code == 200
    assert "location.replace('/odoo/'" in page.text
