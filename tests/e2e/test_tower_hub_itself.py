"""The hub's own messages (timers fired, cases closed; inbox partner `intermodal`) are
shown as the hub itself, never as a partner of kind 'unconfigured'."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intermodal.config import Settings
from intermodal.dashboard import views
from intermodal.dashboard.app import _templates
from intermodal.engine.ids import iso, utcnow
from intermodal.store import open_store
from intermodal.store.tables import inbox
from intermodal.workflows.timers import TIMER_PARTNER
from tests.conftest import new_secret


def _message(n: int, partner: str, channel: str) -> dict[str, Any]:
    return {
        "receipt_id": f"rcpt-{partner}-{n}",
        "partner": partner,
        "message_id": f"m-{n}",
        "channel": channel,
        "content_type": "application/json",
        "body": b"{}",
        "correlation_id": f"corr-{n}",
        "received_at": iso(utcnow()),
        "status": "applied",
    }


def test_the_hubs_own_messages_are_the_hub_itself_not_a_partner(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        {
            "hub": {"database": db_url},
            "partners": {"acme": {"kind": "carrier", "webhook_secrets": ["env:ACME_SECRET"]}},
        },
        env={"ACME_SECRET": new_secret()},
    )
    store = open_store(db_url)
    try:
        with store.write() as conn:
            conn.execute(
                inbox.insert(),
                [
                    _message(1, "acme", "webhook"),
                    _message(2, TIMER_PARTNER, "timer"),
                    _message(3, TIMER_PARTNER, "timer"),
                    _message(4, TIMER_PARTNER, "case"),
                    _message(5, "ghost", "webhook"),  # a partner since removed from config
                ],
            )
        data = views.overview(store, settings, {})
        kinds = {f["partner"]: f["kind"] for f in data["flows_in"]}
        assert kinds == {"acme": "carrier", "ghost": "unconfigured"}
        assert data["hub_itself"]["day"] == 3 and data["hub_itself"]["hour"] == 3
        page = (
            _templates()
            .get_template("overview.html")
            .render(**data, prefix="/tower", htmx="h.js", version="0", operator=None, csrf="")
        )
        row = page[page.index('<tr id="hub-itself"') :]
        row = row[: row.index("</tr>")]
        assert "the hub itself" in row and "timers fired, cases closed" in row
        assert 'partners#intermodal"' not in page
        health = views.partner_health(store, settings)
        assert [p["partner"] for p in health] == ["acme", "ghost"]
    finally:
        store.dispose()
