"""The pages a person opens in a browser."""

from __future__ import annotations

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
            assert client.get(f"/{href}").status_code in (200, 503), href  # 503: no dispatcher
        assert "tower/" not in answer.text  # off: the link would be a 404
        assert "://" not in answer.text


def test_landing_page_links_the_tower_when_it_is_on(hub_client: HubClient) -> None:
    with hub_client(TOWER, {"PAGES_OPS_PASSWORD": "correct horse battery"}) as client:
        answer = client.get("/")
        assert 'href="tower/"' in answer.text
        assert client.get("/tower/", follow_redirects=False).status_code in (200, 303)
