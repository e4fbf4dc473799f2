"""The pages a person opens in a browser: the landing page and the API docs, which load
nothing from another host."""

from __future__ import annotations

import re

from intermodal.api.docs import INIT, STATIC, SWAGGER_UI
from tests.api.conftest import HubClient

TOWER = {
    "tower": {"users": {"ops": {"role": "operator", "password": "env:PAGES_OPS_PASSWORD"}}},
}


def test_landing_page_links_the_hub_s_pages(hub_client: HubClient) -> None:
    with hub_client() as client:
        answer = client.get("/")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        for href in ("docs", "openapi.json", "metrics", "healthz", "readyz"):
            assert f'href="{href}"' in answer.text
            # 503: no dispatcher; 401: metrics are a read like any other (hub.metrics_public)
            expected = (401,) if href == "metrics" else (200, 503)
            assert client.get(f"/{href}").status_code in expected, href
        assert "tower/" not in answer.text  # off: the link would be a 404
        assert "://" not in answer.text


def test_landing_page_links_the_tower_when_it_is_on(hub_client: HubClient) -> None:
    with hub_client(TOWER, {"PAGES_OPS_PASSWORD": "correct horse battery"}) as client:
        answer = client.get("/")
        assert 'href="tower/"' in answer.text
        assert client.get("/tower/", follow_redirects=False).status_code in (200, 303)


def test_docs_load_only_from_the_hub(hub_client: HubClient) -> None:
    with hub_client() as client:
        answer = client.get("/docs")
        assert answer.status_code == 200
        assert "://" not in answer.text  # no CDN, no validator, no other host at all
        assert "<script>" not in answer.text  # no inline script: the CSP allows none
        assets = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
        assert len(assets) == 4  # Swagger UI, its start-up script, the stylesheet, the icon
        for url in assets:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.content == (STATIC / url.rsplit("/", 1)[1]).read_bytes()
            assert asset.headers["x-content-type-options"] == "nosniff"
            versioned = SWAGGER_UI in url or "favicon" in url
            assert ("immutable" in asset.headers["cache-control"]) == versioned, url
        types = {client.get(url).headers["content-type"].split(";")[0] for url in assets}
        assert types == {"text/javascript", "text/css", "image/png"}
        start = client.get(f"/docs/assets/{INIT}").text
        assert "validatorUrl: null" in start
        assert 'data-openapi-url="/openapi.json"' in answer.text
        # no OAuth2 flow in this API, so no redirect page (it needed an inline script)
        assert client.get("/docs/oauth2-redirect").status_code == 404


def test_only_the_vendored_assets_are_served(hub_client: HubClient) -> None:
    with hub_client() as client:
        for path in (
            "/docs/assets/VENDORED.md",
            "/docs/assets/swagger-ui-LICENSE.txt",
            "/docs/assets/..%2F..%2Fapp.py",
        ):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["error"]["code"] == "not_found"
        nul = client.get("/docs/assets/%00")  # refused before any route: api/request_target.py
        assert nul.status_code == 400 and nul.json()["error"]["details"][0]["loc"] == "path"
        assert client.get("/redoc").status_code == 404  # ReDoc is not vendored
