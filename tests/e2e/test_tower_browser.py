"""The control tower in a real browser: Debian's Chromium driven by Playwright, headless.

An operator logs in, finds a shipment by its sale order, reads its timeline, replays a
dead letter and sees it leave the list, filters exceptions; a viewer is offered no replay
and is refused when forging one. Screenshots of each step go to test-artifacts/e2e/ (the
README's pictures come from a demo day instead: tests/e2e/readme_screenshots.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from intermodal.store.tables import dead_letters
from tests.e2e.conftest import ARTIFACTS, OPERATOR, VIEWER, TowerHub, tower_hub


@pytest.fixture(scope="module")
def browser_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TowerHub]:
    folder = tmp_path_factory.mktemp("tower-browser")
    with tower_hub(folder, f"sqlite:///{folder / 'hub.db'}") as hub:
        yield hub


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        yield launched
        launched.close()


class Visit:
    """One browser tab that fails the test on any script dialog (an injected alert) or
    page error, and saves a screenshot per step."""

    def __init__(self, browser: Browser, hub: TowerHub, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page: Page = self.context.new_page()
        self.hub = hub
        self.name = name
        self.problems: list[str] = []
        self.page.on(
            "dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss())
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, step: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{step}.png"), full_page=True)

    def login(self, who: tuple[str, str]) -> None:
        self.page.goto(f"{self.hub.url}/tower/")
        expect(self.page).to_have_url(re.compile(r"/tower/login"))
        self.page.get_by_label("User").fill(who[0])
        self.page.get_by_label("Password or token").fill(who[1])
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.locator("header .user")).to_contain_text(who[0])

    def nav(self, name: str) -> None:
        self.page.locator("header nav").get_by_role("link", name=name, exact=True).click()
        expect(self.page.locator('nav a[aria-current="page"]')).to_have_text(name)
        self.htmx_ready()

    def htmx_ready(self) -> None:
        """Wait until htmx (loaded with `defer`) has processed the page: a change made
        before that fires no request, and the filter would seem to do nothing."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_function("() => window.htmx !== undefined")

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], self.problems


def test_operator_finds_a_shipment_and_reads_its_timeline(
    browser: Browser, browser_hub: TowerHub
) -> None:
    visit = Visit(browser, browser_hub, "operator")
    page = visit.page
    visit.login(OPERATOR)
    expect(page.get_by_role("heading", name=re.compile("Overview"))).to_be_visible()
    expect(page.locator("#quarantine-count")).to_have_text("1")
    visit.shot("overview")

    visit.nav("Shipments")
    page.get_by_role("searchbox").fill("S01001")
    page.get_by_role("button", name="Search").click()
    results = page.locator("#results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("odoo sale order")
    visit.shot("search")
    results.first.get_by_role("link", name="SHP-1001").click()

    expect(page.locator("#shipment-key")).to_have_text("SHP-1001")
    timeline = page.locator("#timeline tbody tr")
    expect(timeline).to_have_count(6)
    for outcome in ("applied", "late", "duplicate", "violation"):
        expect(page.locator(f'#timeline tr[data-outcome="{outcome}"]').first).to_be_visible()
    # The partner's script is on the page as text, and never ran (Visit fails on a dialog).
    expect(page.locator("#timeline")).to_contain_text('<script>alert("pwned")</script>')
    expect(page.get_by_role("link", name=re.compile("S01001"))).to_have_attribute(
        "href", re.compile(r"/web#model=sale\.order&id=17")
    )
    visit.shot("timeline")
    # htmx keeps no copy of the pages (payloads, the CSRF token) in the browser's storage.
    stored = page.evaluate("() => [...Object.keys(sessionStorage), ...Object.keys(localStorage)]")
    assert set(stored) <= {"htmx-current-path-for-history"}, stored
    visit.close()


def test_operator_replays_a_dead_letter_and_it_leaves_the_list(
    browser: Browser, browser_hub: TowerHub
) -> None:
    visit = Visit(browser, browser_hub, "replay")
    page = visit.page
    visit.login(OPERATOR)
    visit.nav("Dead letters")
    rows = page.locator("#dead-letters tbody tr[data-command]")
    before = rows.count()
    assert before == browser_hub.count(dead_letters) >= 3
    command_id = rows.first.get_attribute("data-command")
    assert command_id
    rows.first.get_by_role("checkbox").check()
    visit.shot("dead-letters-chosen")
    page.get_by_role("button", name="Replay selected").click()
    expect(page.locator(".flash")).to_have_text("replayed 1 dead letter(s)")
    expect(page.locator(f'#dead-letters tr[data-command="{command_id}"]')).to_have_count(0)
    expect(rows).to_have_count(before - 1)
    visit.shot("dead-letters-replayed")
    assert browser_hub.count(dead_letters, dead_letters.c.command_id == command_id) == 0
    visit.close()


def test_operator_filters_exceptions(browser: Browser, browser_hub: TowerHub) -> None:
    visit = Visit(browser, browser_hub, "cases")
    page = visit.page
    visit.login(OPERATOR)
    visit.nav("Exceptions")
    table = page.locator("#cases-table tbody tr[data-kind]")
    expect(table).to_have_count(4)
    page.get_by_label("Kind").select_option("customs_hold")  # htmx swaps the table
    expect(table).to_have_count(1)
    expect(table.first).to_have_attribute("data-kind", "customs_hold")
    expect(page).to_have_url(re.compile(r"kind=customs_hold"))
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Owner").select_option("finance")
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text("billing dispute")
    visit.shot("filtered")
    visit.close()


def test_viewer_cannot_replay(browser: Browser, browser_hub: TowerHub) -> None:
    visit = Visit(browser, browser_hub, "viewer")
    page = visit.page
    visit.login(VIEWER)
    expect(page.locator("header .role")).to_have_text("viewer")
    visit.nav("Dead letters")
    expect(page.locator("#dead-letters tbody tr[data-command]").first).to_be_visible()
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Replay"))).to_have_count(0)
    visit.shot("dead-letters")
    # Forging the form from the viewer's own session: the token is right, the role is not.
    before = browser_hub.count(dead_letters)
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    answer = page.request.post(
        f"{browser_hub.url}/tower/dead-letters/replay",
        form={"csrf": csrf or "", "all": "1"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert browser_hub.count(dead_letters) == before
    visit.close()


def test_an_expired_session_sends_the_refreshing_overview_to_the_login_page(
    browser: Browser, browser_hub: TowerHub
) -> None:
    visit = Visit(browser, browser_hub, "expired")
    page = visit.page
    visit.login(VIEWER)
    expect(page.locator("#overview")).to_be_visible()
    visit.htmx_ready()
    visit.context.clear_cookies()  # the session ends (expired, or the hub's key changed)
    # What the overview's timer does every 15 s, now. The promise is not returned: the
    # page navigates to the login form before it settles, and Playwright would wait on
    # it in a page that is gone.
    page.evaluate(
        "() => { htmx.ajax('GET', '/tower/', {source: '#overview', target: '#overview',"
        " select: '#overview', swap: 'outerHTML'}); }"
    )
    expect(page).to_have_url(re.compile(r"/tower/login\?next="))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    visit.problems = [p for p in visit.problems if "401" not in p]  # the swap's own answer
    visit.close()


def test_operator_looks_at_the_map_and_the_charts(browser: Browser, browser_hub: TowerHub) -> None:
    """The pictures draw in Chromium under the tower's CSP (a blocked script or style is a
    console error, which fails the visit) from the hub alone: no request leaves it."""
    visit = Visit(browser, browser_hub, "pictures")
    page = visit.page
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(browser_hub.url) else None,
    )
    visit.login(OPERATOR)
    visit.nav("Map")
    svg = page.locator("#map-svg")
    expect(svg).to_be_visible()
    box = svg.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    expect(page.locator("#map-svg path.land")).to_have_count(1)
    expect(page.locator("#map-svg line.lane")).to_have_count(1)
    expect(page.locator("#map-list")).to_contain_text("SHP-1002")
    visit.shot("map")

    page.locator("header nav").get_by_role("link", name="Charts", exact=True).click()
    expect(page.locator("#charts")).to_have_attribute("data-loaded", re.compile(r"^\d{4}-"))
    expect(page.locator("#charts canvas")).to_have_count(5)  # traffic, backlog, cases, ETA, states
    expect(page.locator("#chart-states")).to_have_attribute("data-states", re.compile(r"delivered"))
    expect(page.locator("#charts-status")).to_contain_text("messages in")
    page.locator("select[name=window]").select_option("24h")
    page.get_by_role("button", name="show").click()
    expect(page).to_have_url(re.compile(r"window=24h"))
    expect(page.locator("#charts")).to_have_attribute("data-loaded", re.compile(r"^\d{4}-"))
    visit.shot("charts")
    assert outside == [], outside
    visit.close()
