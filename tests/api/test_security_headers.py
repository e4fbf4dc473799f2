"""Every HTML page the hub serves carries its security headers, and every state-changing
form of the control tower refuses a request without its CSRF token.

Both rules are checked by enumerating the application's own routes (the API's and the
mounted tower's), so a page or form added later is covered without editing this file.
The hub is the e2e scenario hub (tests/e2e/conftest.py), served on loopback, so the pages
have real shipments, dead letters, quarantined messages, cases and a reconciliation run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from intermodal.api.app import create_app
from intermodal.store.tables import cases, dead_letters, inbox, reconciliation_runs
from tests.e2e.conftest import OPERATOR, TowerHub, csrf_of, tower_hub

PAGE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TowerHub]:
    folder = tmp_path_factory.mktemp("headers")
    with tower_hub(folder, f"sqlite:///{folder / 'hub.db'}") as running:
        yield running


def _inner(app: Any) -> Any:
    """Through the middleware wrappers (access log, webhook fast path, the tower's headers)
    to the app that holds the routes."""
    while not hasattr(app, "routes"):
        app = app.app
    return app


def routes(hub: TowerHub) -> list[tuple[str, str]]:
    """(method, path template) of every route the hub's application has, tower included."""
    return list(_walk(_inner(create_app(hub.settings)).routes, ""))


def _walk(found: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
    for route in found:
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            yield "GET", prefix + route.path + "/{file}"
        elif isinstance(route, Mount):
            yield from _walk(_inner(route.app).routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):
            # FastAPI keeps an included router as one entry (no prefix in create_app)
            yield from _walk(route.original_router.routes, prefix)


def _real_values(hub: TowerHub) -> dict[str, str]:
    with hub.store.read() as conn:
        return {
            "key": "SHP-1001",
            "command_id": conn.execute(select(dead_letters.c.command_id)).scalars().first(),
            "receipt_id": conn.execute(
                select(inbox.c.receipt_id).where(inbox.c.status == "rejected")
            ).scalar_one(),
            "run_id": conn.execute(select(reconciliation_runs.c.run_id)).scalar_one(),
            "case_id": conn.execute(select(cases.c.case_id)).scalars().first(),
            "name": "swagger-ui-favicon-32x32.png",
            "partner": "acme",
            "file": "tower.css",
        }


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m[1], f"no-such-{m[1]}"), template)


def assert_page_headers(answer: httpx.Response) -> None:
    where = f"{answer.request.method} {answer.request.url.path} ({answer.status_code})"
    for name, value in PAGE_HEADERS.items():
        assert answer.headers.get(name) == value, f"{where}: {name}"
    policy = directives(answer.headers.get("content-security-policy", ""))
    assert policy.get("frame-ancestors") == ["'none'"], where
    assert policy.get("default-src") == ["'none'"], where
    assert policy.get("base-uri") == ["'none'"], where
    scripts = policy.get("script-src", [])
    assert not {"'unsafe-inline'", "'unsafe-eval'", "data:", "*", "http:", "https:"} & set(
        scripts
    ), where
    assert all(s.startswith("'") for s in scripts), where  # no other host at all
    styles = policy.get("style-src", [])
    assert "'unsafe-inline'" not in styles, where


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_every_html_page_has_the_security_headers(hub: TowerHub) -> None:
    anonymous = httpx.Client(base_url=hub.url, timeout=30)
    operator = hub.login(OPERATOR)
    real = _real_values(hub)
    html_pages: set[str] = set()
    for method, template in routes(hub):
        if method != "GET":
            continue
        for values in (real, {}):  # a page with something to show, and its 404
            path = fill(template, values)
            for client in (operator, anonymous):
                answer = client.get(path)
                if answer.headers.get("content-type", "").startswith("text/html"):
                    assert_page_headers(answer)
                    html_pages.add(template)
    # The enumeration reached every page, so none could slip past unchecked.
    json_reads = {"/tower/charts/data"}  # what the charts page draws: JSON, not a page
    tower_pages = {t for m, t in routes(hub) if m == "GET" and t.startswith("/tower")}
    assert {"/", "/docs"} | (tower_pages - json_reads) <= html_pages
    charts = operator.get("/tower/charts/data")
    assert charts.headers["content-type"] == "application/json"
    assert charts.headers["cache-control"] == "no-store"
    assert charts.headers["x-content-type-options"] == "nosniff"
    # Error pages too: an unknown tower path, a hostile one, a refused form, a wrong method.
    for answer in (
        operator.get("/tower/nothing-here"),
        operator.get("/tower/shipments/%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        operator.post("/tower/dead-letters/replay", data={"all": "1"}),
        operator.put("/tower/"),
        anonymous.get("/tower/login?next=%22%3E%3Cscript%3E"),
    ):
        assert answer.headers["content-type"].startswith("text/html"), answer.request.url
        assert_page_headers(answer)


def test_the_tower_s_pages_are_never_cached(hub: TowerHub) -> None:
    """They show partners' data to a logged-in operator: no shared or back-button copy."""
    operator = hub.login(OPERATOR)
    for path in ("/tower/", "/tower/shipments/SHP-1001", "/tower/cases"):
        assert operator.get(path).headers["cache-control"] == "no-store", path


def _refusals(hub: TowerHub, path: str) -> list[tuple[str, httpx.Response]]:
    """The ways a forged form arrives, each from a fresh logged-in operator."""
    answers = []
    other_token = csrf_of(hub.login(OPERATOR).get("/tower/").text)  # another session's
    for label, data, headers in (
        ("no token", {}, {}),
        ("empty token", {"csrf": ""}, {}),
        ("wrong token", {"csrf": "x" * 43}, {}),
        ("another session's token", {"csrf": other_token}, {}),
        ("wrong header token", {}, {"x-csrf-token": "x" * 43}),
        ("right token, another site", {"csrf": "<own>"}, {"origin": "https://evil.example"}),
    ):
        client = hub.login(OPERATOR)
        own = csrf_of(client.get("/tower/").text)
        form = {k: own if v == "<own>" else v for k, v in data.items()}
        answers.append((label, client.post(path, data={**form, "ids": "none"}, headers=headers)))
    return answers


def test_every_tower_form_refuses_a_missing_or_wrong_csrf_token(hub: TowerHub) -> None:
    real = _real_values(hub)
    posts = [t for m, t in routes(hub) if m == "POST" and t.startswith("/tower")]
    assert len(posts) >= 5  # login, logout, two replays, closing a case: the list is real
    with hub.store.read() as conn:
        before = conn.execute(select(dead_letters.c.command_id)).scalars().all()
    for template in posts:
        path = fill(template, real)
        for label, answer in _refusals(hub, path):
            assert answer.status_code == 403, f"{path}: {label} -> {answer.status_code}"
            assert "csrf" in answer.text.lower() or "expired" in answer.text, (path, label)
        # The same form with its own token is not refused: the token was the reason.
        client = hub.login(OPERATOR)
        own = csrf_of(client.get("/tower/").text)
        answer = client.post(path, data={"csrf": own, "ids": "none"})
        # an operator may still lack the form's role (ending others' sessions is admin's):
        # that 403 says so, never the token
        refused_for_token = answer.status_code == 403 and "needs the" not in answer.text
        assert not refused_for_token, f"{path} refused with the right token"
    with hub.store.read() as conn:
        after = conn.execute(select(dead_letters.c.command_id)).scalars().all()
    assert after == before  # nothing replayed by any of the refused forms


def test_no_api_write_acts_on_the_tower_s_session_cookie_alone(hub: TowerHub) -> None:
    """A logged-in operator's browser sends the session cookie to the whole hub; every
    POST outside the tower must want a bearer token or a signature instead, so a forged
    cross-site form cannot write through the API either."""
    operator = hub.login(OPERATOR)
    real = _real_values(hub)
    posts = [t for m, t in routes(hub) if m == "POST" and not t.startswith("/tower")]
    assert "/v1/webhooks/{partner}" in posts and "/v1/admin/dead-letters/replay" in posts
    for template in posts:
        for content in (b"{}", b"[]"):
            answer = operator.post(
                fill(template, real), content=content, headers={"content-type": "application/json"}
            )
            assert answer.status_code in (400, 401, 403, 404, 415, 422), (
                template,
                answer.status_code,
            )
            assert answer.status_code >= 400


def test_landing_and_docs_policies_name_only_what_they_load(hub: TowerHub) -> None:
    client = httpx.Client(base_url=hub.url, timeout=30)
    landing = client.get("/")
    policy = directives(landing.headers["content-security-policy"])
    assert "script-src" not in policy  # the landing page runs no script (default-src 'none')
    (style,) = re.findall(r"<style>(.*?)</style>", landing.text, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == [f"'sha256-{digest}'"]  # the inline rules, by their hash
    docs = client.get("/docs")
    assert directives(docs.headers["content-security-policy"])["script-src"] == ["'self'"]
    assert not re.search(r"<script>|<script [^>]*>[^<]", docs.text)  # scripts by src only
