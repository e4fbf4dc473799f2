"""GET /web/binary/company_logo (and /logo, /logo.png): addons/web/controllers/binary.py
Binary.company_logo, auth='none', cors='*'."""

from __future__ import annotations

import base64
import json
from importlib import resources
from urllib.parse import quote

import httpx
import pytest

from intermodal_sim.odoo.app import PLACEHOLDER_LOGO, PLACEHOLDER_NOLOGO, solid_png
from intermodal_sim.odoo.service import OdooSim, SimConfig
from intermodal_sim.odoo.testing import RunningSim, serve_in_thread


def demo_logo() -> bytes:
    text = resources.files("intermodal_sim.odoo.data").joinpath("demo.json").read_text("utf-8")
    return base64.b64decode(json.loads(text)["company"]["logo"])


@pytest.mark.parametrize("path", ["/web/binary/company_logo", "/logo", "/logo.png"])
def test_logo_of_the_superusers_company_without_a_session(http: httpx.Client, path: str) -> None:
    """One database (db_monodb) and no session: the superuser's company logo_web."""
    response = http.get(path)
    assert response.status_code == 200
    assert response.content == demo_logo()
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == "inline; filename=logo.png"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "last-modified" in response.headers


def test_logo_of_a_given_company_and_bad_parameters(http: httpx.Client) -> None:
    """?company=<id> reads that company; a value int() refuses falls back to web's logo.png
    (the route's `except Exception`); a company without a logo gets nologo.png."""
    assert http.get("/web/binary/company_logo", params={"company": "1"}).content == demo_logo()
    for bad in ("x", "1.5", "9" * 40, quote("1;DROP")):
        assert http.get("/logo", params={"company": bad}).content == PLACEHOLDER_LOGO
    assert http.get("/logo", params={"company": "424242"}).content == PLACEHOLDER_NOLOGO


def test_logo_follows_the_company_picture(sim: RunningSim, http: httpx.Client) -> None:
    """res_company.py: logo is the company partner's image_1920; the route guesses the type
    (odoo/tools/mimetypes.py) and names the file after it."""
    svg = b"<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>"
    login = http.post(
        "/web/session/authenticate",
        json={
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"db": sim.db, "login": "admin", "password": "admin"},
        },
    )
    assert login.json()["result"]["uid"] == 2
    call = {
        "model": "res.company",
        "method": "write",
        "args": [[1], {"logo": base64.b64encode(svg).decode()}],
        "kwargs": {},
    }
    try:
        written = http.post(
            "/web/dataset/call_kw",
            json={"jsonrpc": "2.0", "method": "call", "id": 2, "params": call},
        )
        assert written.json()["result"] is True
        response = http.get("/web/binary/company_logo")
        assert response.content == svg
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.headers["content-disposition"] == "inline; filename=logo.svg"
    finally:
        call["args"] = [[1], {"logo": base64.b64encode(demo_logo()).decode()}]
        http.post(
            "/web/dataset/call_kw",
            json={"jsonrpc": "2.0", "method": "call", "id": 3, "params": call},
        )
    assert http.get("/web/binary/company_logo").content == demo_logo()


def test_several_databases_need_a_db_parameter() -> None:
    """request.db: with more than one database and no session nor ?db=, there is no
    database, and web's logo.png answers."""
    sim = OdooSim(SimConfig())
    with (
        serve_in_thread(sim) as (host, port),
        httpx.Client(base_url=f"http://{host}:{port}") as http,
    ):
        created = http.post(
            "/jsonrpc",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "id": 1,
                "params": {
                    "service": "db",
                    "method": "duplicate_database",
                    "args": ["admin", "intermodal", "second"],
                },
            },
        )
        assert created.json()["result"] is True
        assert http.get("/web/binary/company_logo").content == PLACEHOLDER_LOGO
        assert http.get("/logo", params={"db": "second"}).content == demo_logo()
        assert http.get("/logo", params={"db": "nowhere"}).content == PLACEHOLDER_LOGO
    sim.db.close()


def test_placeholders_are_pngs() -> None:
    for image in (PLACEHOLDER_LOGO, PLACEHOLDER_NOLOGO, solid_png(1, 1, (0, 0, 0))):
        assert image.startswith(b"\x89PNG\r\n\x1a\n") and image.endswith(b"IEND\xaeB`\x82")
