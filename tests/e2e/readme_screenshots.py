"""Take the README's control tower screenshots from a real day: `intermodal demo`.

    .venv/bin/python -m tests.e2e.readme_screenshots [--orders 60] [--seconds 20]

Plays a short demo day into a temporary folder, then serves its database with the
control tower on (a throwaway operator login, no deliveries) and has Debian's Chromium
save docs/img/tower-overview.png and docs/img/tower-timeline.png (the busiest shipment
that has a late or duplicate event). Nothing here is a test; the browser tests take their
own screenshots under test-artifacts/.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright
from sqlalchemy import func, select

from intermodal.config import load_config
from intermodal.store import open_store
from intermodal.store.tables import events
from intermodal_sim.testing import free_port, running_hub

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMG = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"


def play_day(folder: Path, orders: int, seconds: float) -> dict[str, object]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "intermodal.cli",
            "demo",
            "--for",
            str(seconds),
            "--orders",
            str(orders),
            "--folder",
            str(folder),
            "--port",
            str(free_port()),
            "--odoo-port",
            str(free_port()),
        ],
        check=True,
        cwd=ROOT,
    )
    demo = yaml.safe_load((folder / "intermodal.yaml").read_text())
    assert isinstance(demo, dict)
    return demo


def tower_config(folder: Path, demo: dict[str, object], password: str) -> Path:
    """The demo's store, partners and endpoints (no credentials: nothing is received or
    delivered while the pictures are taken) plus a tower section."""
    (folder / "tower.password").write_text(password)
    partners = demo.get("partners")
    endpoints = demo.get("endpoints")
    assert isinstance(partners, dict) and isinstance(endpoints, dict)
    config = {
        "hub": {"database": f"sqlite:///{folder / 'intermodal.db'}"},
        "partners": {
            name: {"kind": p.get("kind", "other"), "owns": p.get("owns", [])}
            for name, p in partners.items()
        },
        "endpoints": {
            name: {"kind": e.get("kind", "webhook"), "url": e["url"]}
            for name, e in endpoints.items()
        },
        "tower": {"users": {"operator": {"role": "operator", "password": "file:tower.password"}}},
    }
    path = folder / "tower.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def busiest_noisy_shipment(database: str) -> str:
    store = open_store(database, migrate=False)
    try:
        with store.read() as conn:
            noisy = (
                select(events.c.subject)
                .where(events.c.outcome.in_(["late", "duplicate", "violation"]))
                .scalar_subquery()
            )
            row = conn.execute(
                select(events.c.subject, func.count().label("n"))
                .where(events.c.subject.in_(noisy))
                .group_by(events.c.subject)
                .order_by(func.count().desc(), events.c.subject)
                .limit(1)
            ).first()
            if row is None:
                row = conn.execute(
                    select(events.c.subject, func.count())
                    .group_by(events.c.subject)
                    .order_by(func.count().desc())
                    .limit(1)
                ).first()
    finally:
        store.dispose()
    assert row is not None, "the demo day left no events"
    return str(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tower-shots-"))
    demo = play_day(folder / "demo", args.orders, args.seconds)
    password = secrets.token_urlsafe(16)
    settings = load_config(tower_config(folder / "demo", demo, password))
    key = busiest_noisy_shipment(settings.hub.database)
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    with running_hub(settings, dispatch=False) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        page.goto(f"{url}/tower/login")
        page.get_by_label("User").fill("operator")
        page.get_by_label("Password or token").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("#overview")
        page.screenshot(path=str(DOCS_IMG / "tower-overview.png"), full_page=True)
        page.goto(f"{url}/tower/shipments/{key}")
        page.wait_for_selector("#timeline")
        page.screenshot(path=str(DOCS_IMG / "tower-timeline.png"), full_page=True)
        browser.close()
    print(f"wrote {DOCS_IMG / 'tower-overview.png'} and tower-timeline.png (shipment {key})")


if __name__ == "__main__":
    main()
