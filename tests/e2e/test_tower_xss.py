"""Hostile partner text in every field a partner controls, sent through the hub's real
HTTP API, then every control tower page rendered in Chromium: no script runs, and the text
is on the page as text.

Each page is opened twice: once as served, where the Content-Security-Policy must report no
violation (a violation would mean markup from a partner reached the page, or the tower
itself broke its own policy), and once with the policy switched off (`bypass_csp`), where
escaping alone must keep every payload inert: no flag set by an injected script, no
injected element or event handler in the DOM, no `javascript:` link. Both detectors are
proven live first, so the test cannot pass because it looked in the wrong place.

A last test uses the tower the way an operator does (login, every page, filters, a replay,
closing a case, logout) and the landing page and the API docs, and requires that Chromium
reports no CSP violation and no script error on any of them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.config import load_config
from intermodal.engine.ids import utcnow
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import Store, open_store
from intermodal.store.tables import cases, dead_letters, inbox, reconciliation_runs
from intermodal.workflows.reconcile.run import run_reconciliation
from intermodal.workflows.reconcile.settings import ReconcileConfig
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from tests.conftest import backend_database, new_secret
from tests.e2e.conftest import EXAMPLES, OPERATOR

# Each payload sets `window.__xss` (or opens a dialog) if it ever runs. None has a double
# quote inside what is checked on the page, so JSON panes show it unchanged.
SCRIPT = "<script>window.__xss='script'</script>"
IMG = "<img src=x onerror=window.__xss='img'>"
SVG = "<svg onload=window.__xss='svg'>"
HX = "<a hx-get=/tower/logout hx-trigger=load id=hx-injected>hx</a>"  # htmx's own door
TEMPLATE = "{{7*7}}${7*7}#{7*7}{%print(7*7)%}"
RTL = "\u202egnp.exe\u202c"  # right-to-left override: the text must keep it as text
BREAKOUT = '">' + IMG + "'>" + SVG  # out of a double- or single-quoted attribute
HOSTILE = SCRIPT + BREAKOUT + HX + TEMPLATE + RTL  # fits every ShortText (256)
HEADER_SAFE = SCRIPT + BREAKOUT + HX + TEMPLATE  # an HTTP header holds no U+202E
LONG = "L" * (3990 - len(HOSTILE)) + HOSTILE  # a LongText near its 4000 limit
JS_URL = "javascript:window.__xss='url'"
KEY = "javascript:SHP-X1"  # what the key pattern lets through of a URL
KEY2 = "SHP-X2"
MARKERS = (SCRIPT, IMG, SVG, HX, TEMPLATE, RTL)
TOKEN = "acme-batch-token-xss-0123456789-ab"

DETECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) found.push(`${el.tagName} ${a.name}`);
      if (['href', 'src', 'action', 'formaction', 'data'].includes(a.name)
          && /^\\s*javascript:/i.test(a.value)) found.push(`${el.tagName} ${a.name}=${a.value}`);
    }
  }
  for (const s of document.scripts) {
    if (!/\\/tower\\/static\\/htmx-[0-9.]+\\.min\\.js$/.test(s.src)) found.push(`script ${s.src}`);
  }
  for (const el of document.querySelectorAll('#hx-injected, img, svg, iframe, object, embed'))
    found.push(`element ${el.tagName}`);
  return found;
}"""


# -- the hub and what partners sent it ------------------------------------------------------


def _hostile_endpoint() -> Starlette:
    """A partner's system that refuses every command with hostile text as its reason: the
    hub keeps that answer as the dead letter's error."""

    async def refuse(_request: Request) -> Response:
        return Response(orjson.dumps({"error": HOSTILE}), 422, media_type="application/json")

    return Starlette(routes=[Route("/hooks", refuse, methods=["POST"])])


@dataclass
class XssHub:
    url: str
    store: Store
    keys: dict[str, bytes]

    def webhook(self, partner: str, msg_id: str, payload: Any) -> httpx.Response:
        body = orjson.dumps(payload)
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.keys[partner], msg_id, ts, body),
        }
        return httpx.post(f"{self.url}/v1/webhooks/{partner}", content=body, headers=headers)

    def count(self, table: Any, *where: Any) -> int:
        with self.store.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            )

    def first(self, column: Any, *where: Any) -> str:
        with self.store.read() as conn:
            return str(conn.execute(select(column).where(*where)).scalars().first())

    def first_run(self) -> str:
        return self.first(reconciliation_runs.c.run_id)


def _event(event_id: str, subject: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": JS_URL,
        "type": f"intermodal.{kind}",
        "subject": subject,
        "time": "2026-11-29T08:00:00Z",
        "comment": HOSTILE,  # an extension attribute: kept with the event
        "data": data,
    }


def _address() -> dict[str, Any]:
    return {
        "street": HOSTILE,
        "street2": LONG[:256],
        "city": HOSTILE,
        "postal_code": SVG[:32],
        "region": TEMPLATE,
        "country": "DE",
    }


def _events() -> list[dict[str, Any]]:
    """Every field a partner fills, hostile, on two shipments."""
    party = {
        "role": "customer",
        "name": HOSTILE,
        "reference": "javascript:CUST-1",
        "address": _address(),
        "email": HOSTILE,
        "phone": IMG[:64],
    }
    shipment = {
        "key": KEY,
        "references": {
            "odoo_sale_order": "javascript:S0001",
            "odoo_picking": "javascript:WH-OUT-1",
            "customer_reference": "javascript:PO-1",
            "carrier_tracking_numbers": ["javascript:1Z999"],
        },
        "parties": [party, {**party, "role": "consignee"}],
        "stops": [{"sequence": 1, "kind": "pickup", "address": _address(), "party": party}],
        "service_level": HOSTILE,
    }
    at = "2026-11-29T0{}:00:00Z"
    return [
        _event("up-" + HOSTILE, KEY, "shipment.upserted", shipment),
        _event(
            "e-" + HOSTILE,
            KEY,
            "shipment.milestone",
            {
                "milestone": "picked_up",
                "occurred_at": at.format(1),
                "location": _address(),
                "reason": LONG,
                "tracking_number": "javascript:1Z999",
            },
        ),
        _event(
            "f-" + HOSTILE,
            KEY,
            "shipment.milestone",
            {"milestone": "delivery_failed", "occurred_at": at.format(2), "reason": HOSTILE},
        ),
        _event(
            "d-" + HOSTILE,
            KEY,
            "shipment.milestone",
            {"milestone": "delivered", "occurred_at": at.format(3), "reason": HOSTILE},
        ),
        _event(
            "p-" + HOSTILE,
            KEY,
            "pod.received",
            {
                "delivered_at": at.format(3),
                "signed_by": HOSTILE,
                "document_url": JS_URL,
                "photo_urls": [JS_URL],
                "note": LONG,
            },
        ),
        _event(
            "c-" + HOSTILE,
            KEY,
            "charge.recorded",
            {
                "code": "javascript:FRT",
                "kind": "freight",
                "description": HOSTILE,
                "amount": {"amount": "120.50", "currency": "EUR"},
                "status": "provisional",
            },
        ),
        _event(
            "k-" + HOSTILE,
            KEY,
            "customs.updated",
            {
                "state": "hold",
                "broker": HOSTILE,
                "entry_number": "javascript:ENTRY-1",
                "reason": HOSTILE,
                "occurred_at": at.format(2),
            },
        ),
    ]


def _config(folder: Path, database: str, endpoint_url: str) -> Any:
    for name, value in {
        "acme.secret": new_secret(),
        "swiftparcel.secret": new_secret(),
        "olga.password": OPERATOR[1],
    }.items():
        (folder / name).write_text(value)
    shutil.copy(EXAMPLES / "swiftparcel" / "mapping.yaml", folder / "swift.yaml")
    config = {
        "hub": {"database": database},
        "partners": {
            "acme": {
                "kind": "carrier",
                "webhook_secrets": ["file:acme.secret"],
                "tokens": [{"token": "env:INTERMODAL_XSS_TOKEN", "scopes": ["events:write"]}],
                "owns": ["picked_up", "delivered", "delivery_failed"],
            },
            "swiftparcel": {
                "kind": "carrier",
                "webhook_secrets": ["file:swiftparcel.secret"],
                "mapping": "swift.yaml",
            },
        },
        "endpoints": {
            "portal": {
                "url": f"{endpoint_url}/hooks",
                "max_attempts": 1,
                "events": ["milestone", "pod.received", "charge.recorded", "customs.updated"],
            },
        },
        "delivery": {"max_attempts": 1, "breaker_failures": 1000},
        "workflows": {"flows": ["exceptions", "customs"]},
        "tower": {"users": {OPERATOR[0]: {"role": "operator", "password": "file:olga.password"}}},
    }
    (folder / "intermodal.yaml").write_text(yaml.safe_dump(config))
    os.environ["INTERMODAL_XSS_TOKEN"] = TOKEN
    return load_config(folder / "intermodal.yaml")


def _send(hub: XssHub) -> None:
    """Through the public API only: signed webhooks, a bearer-token batch, a mapped
    partner's own JSON with a hostile webhook id."""
    for n, event in enumerate(_events()):
        answer = hub.webhook("acme", f"w-{n}-{HEADER_SAFE}", event)
        assert answer.status_code == 202, answer.text
    batch = [
        _event(
            "b-" + HOSTILE,
            KEY2,
            "shipment.milestone",
            {"milestone": "picked_up", "occurred_at": "2026-11-29T09:00:00Z", "reason": HOSTILE},
        )
    ]
    answer = httpx.post(
        f"{hub.url}/v1/events",
        content=orjson.dumps(batch),
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    unknown_code = {
        "kind": "tracking",
        "shipment": {"reference": KEY2, "tracking": "SP123"},
        "updates": [
            {
                "update_id": "u-1",
                "code": HOSTILE,
                "occurred": "2026-11-29T11:00:00Z",
                "detail": LONG,
            }
        ],
    }
    answer = hub.webhook("swiftparcel", f"q-{HEADER_SAFE}", unknown_code)
    assert answer.status_code == 202, answer.text
    wait_until(lambda: hub.count(inbox, inbox.c.status == "pending") == 0)
    wait_until(lambda: hub.count(dead_letters) >= 2)
    wait_until(lambda: hub.count(cases) >= 1)


@contextlib.contextmanager
def xss_hub(folder: Path, database: str) -> Iterator[XssHub]:
    with serve_in_thread(_hostile_endpoint()) as endpoint_url:
        settings = _config(folder, database, endpoint_url)
        with running_hub(settings) as url:
            store = open_store(settings.hub.database, migrate=False)
            keys = {
                name: webhook_key(Secret((folder / f"{name}.secret").read_text()))
                for name in ("acme", "swiftparcel")
            }
            hub = XssHub(url, store, keys)
            try:
                _send(hub)
                # A reconciliation run over what was sent, as of three days on (past the grace).
                run_reconciliation(store, ReconcileConfig(), now=utcnow() + timedelta(days=3))
                yield hub
            finally:
                store.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[XssHub]:
    with contextlib.ExitStack() as stack:
        folder = tmp_path_factory.mktemp("xss")
        database = stack.enter_context(backend_database(request.param, folder))
        yield stack.enter_context(xss_hub(folder, database))


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        yield launched
        launched.close()


# -- in the browser -------------------------------------------------------------------------


class Tab:
    """A logged-in tab that records dialogs, script errors and CSP violations."""

    def __init__(self, browser: Browser, url: str, bypass_csp: bool) -> None:
        self.url = url
        self.context: BrowserContext = browser.new_context(bypass_csp=bypass_csp)
        self.context.add_init_script(DETECT)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog {d.message}"), d.dismiss()))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error {e}"))
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console {m.text}") if m.type == "error" else None,
        )

    def login(self) -> None:
        self.page.goto(f"{self.url}/tower/login")
        self.page.get_by_label("User").fill(OPERATOR[0])
        self.page.get_by_label("Password or token").fill(OPERATOR[1])
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.locator("header .user")).to_contain_text(OPERATOR[0])

    def open(self, path: str) -> None:
        answer = self.page.goto(self.url + path)
        assert answer is not None and answer.status == 200, path
        self.page.wait_for_load_state("load")
        self.page.wait_for_function("() => window.htmx !== undefined")
        self.page.wait_for_timeout(100)  # htmx's 'load' triggers (an injected one) fire now

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("() => window.__csp")
        return found

    def ran(self) -> Any:
        return self.page.evaluate("() => window.__xss")

    def text(self) -> str:
        found: str = self.page.evaluate("() => document.body.textContent")
        return found

    def close(self) -> None:
        self.context.close()


def _probe(tab: Tab, enforced: bool) -> None:
    """The detectors work: an inline script added now is reported under the policy, and
    runs without it (so a payload that could run would have)."""
    tab.open("/tower/")
    tab.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__xss = \"probe\"'; document.body.append(s); }"
    )
    if enforced:
        assert tab.ran() is None
        assert any("script-src" in v for v in tab.violations())
    else:
        assert tab.ran() == "probe"


def pages(hub: XssHub) -> dict[str, tuple[str, ...]]:
    """Every tower page, and the partner text each must show as text (the overview, the
    partners page and the list of reconciliation runs show figures and configured names,
    no partner text; the quarantine list shows reasons, which name fields and never quote
    payload values; a search box keeps the first 128 characters of what was typed)."""
    command = hub.first(dead_letters.c.command_id)
    receipt = hub.first(inbox.c.receipt_id, inbox.c.status == "rejected")
    everything = MARKERS
    return {
        "/tower/": (),
        "/tower/shipments": (),
        f"/tower/shipments?q={quote(KEY)}": (KEY,),
        f"/tower/shipments?q={quote(HOSTILE)}": (SCRIPT, IMG, SVG),
        f"/tower/shipments/{quote(KEY, safe='')}": (*everything, KEY, JS_URL),
        f"/tower/shipments/{KEY2}": (*everything, KEY2),
        "/tower/cases": (*everything, KEY),
        "/tower/dead-letters": (*everything, KEY, KEY2),
        f"/tower/dead-letters/{quote(command, safe='')}": everything,
        "/tower/quarantine": (),  # reasons name fields, never quote payload values
        f"/tower/quarantine/{quote(receipt, safe='')}": everything,
        "/tower/partners": ("acme", "swiftparcel"),
        "/tower/reconciliation": (),
        f"/tower/reconciliation/{hub.first_run()}": (KEY,),
    }


@pytest.mark.parametrize("enforced", [True, False], ids=["as-served", "csp-off"])
def test_no_partner_text_runs_on_any_page(browser: Browser, hub: XssHub, enforced: bool) -> None:
    tab = Tab(browser, hub.url, bypass_csp=not enforced)
    tab.login()
    _probe(tab, enforced)
    tab.problems.clear()  # the probe's own refusal, logged by Chromium
    for path, shown in pages(hub).items():
        tab.open(path)
        assert tab.ran() is None, f"{path}: a payload ran ({tab.ran()})"
        assert tab.page.evaluate(INJECTED) == [], path
        if enforced:
            assert tab.violations() == [], path
        text = tab.text()
        for marker in shown:
            assert marker in text, f"{path}: {marker[:40]!r} is not shown"
        raw = tab.page.request.get(hub.url + path).text()
        assert SCRIPT not in raw and IMG not in raw and HX not in raw, path  # only escaped
        if SCRIPT in shown:
            assert "&lt;script&gt;window.__xss=" in raw, path
    assert tab.problems == [], tab.problems
    tab.close()


def test_using_the_tower_reports_no_csp_violation(browser: Browser, hub: XssHub) -> None:
    """An operator's round, plus the landing page and the API docs, under the policies
    as served: Chromium reports no violation and no script error at any step."""
    tab = Tab(browser, hub.url, bypass_csp=False)
    page = tab.page

    def clean(step: str) -> None:
        page.wait_for_load_state("load")
        assert tab.violations() == [], f"{step}: {tab.violations()}"
        assert tab.problems == [], f"{step}: {tab.problems}"

    page.goto(hub.url + "/")
    expect(page.get_by_role("link", name="API documentation")).to_be_visible()
    clean("landing")
    page.get_by_role("link", name="API documentation").click()
    page.wait_for_selector(".opblock", timeout=20_000)
    health = page.locator(".opblock", has_text="/healthz")
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    expect(health.locator(".live-responses-table")).to_contain_text("200")
    clean("api docs, tried out")

    tab.login()
    clean("login")
    page.wait_for_function("() => window.htmx !== undefined")
    for name in (
        "Shipments",
        "Dead letters",
        "Quarantine",
        "Exceptions",
        "Reconciliation",
        "Partners",
        "Overview",
    ):
        page.locator("header nav").get_by_role("link", name=name, exact=True).click()
        expect(page.locator('nav a[aria-current="page"]')).to_have_text(name)
        clean(name)
    page.evaluate(  # what the overview's 15 s refresh does
        "() => htmx.ajax('GET', '/tower/', {source: '#overview', target: '#overview',"
        " select: '#overview', swap: 'outerHTML'})"
    )
    page.wait_for_timeout(300)
    clean("overview refreshed")

    page.locator("header nav").get_by_role("link", name="Shipments", exact=True).click()
    page.get_by_role("searchbox").fill(KEY2)
    page.get_by_role("button", name="Search").click()
    page.locator("#results").get_by_role("link", name=KEY2).click()
    expect(page.locator("#shipment-key")).to_have_text(KEY2)
    page.locator("#timeline summary").first.click()  # open an event's payload
    clean("shipment")

    page.locator("header nav").get_by_role("link", name="Dead letters", exact=True).click()
    rows = page.locator("#dead-letters tbody tr[data-command]")
    rows.first.get_by_role("checkbox").check()
    page.get_by_role("button", name="Replay selected").click()
    expect(page.locator(".flash")).to_contain_text("replayed 1 dead letter")
    clean("replay")

    page.locator("header nav").get_by_role("link", name="Exceptions", exact=True).click()
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Exceptions")
    page.wait_for_timeout(200)  # htmx wires the swapped-in filters once it has settled
    page.get_by_label("Kind").select_option("customs_hold")  # htmx swaps the table
    expect(page).to_have_url(re.compile(r"kind=customs_hold"))
    clean("filter")
    page.locator("#cases-table").get_by_role("button", name="Close").first.click()
    expect(page.locator(".flash")).to_contain_text("closed case")
    clean("close a case")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/tower/login"))
    clean("logout")
    tab.close()
