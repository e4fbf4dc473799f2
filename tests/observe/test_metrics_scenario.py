"""/metrics after a scripted scenario, on SQLite and PostgreSQL: every counter and gauge
the scenario touches has exactly the value the scenario implies.

The scenario: a carrier sends signed webhooks (milestones and charges for three
shipments, one re-delivery, one forged signature); four endpoints take the commands:
a portal that fails once (one retry), a receiver that refuses everything (dead letters),
an endpoint that is down (its breaker opens), and the Odoo test server (real writes,
counted by the server itself). Then the workflows' tables get a few cases and one
shipment's invoice, as the flows would write them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from intermodal.config import Settings
from intermodal.engine.ids import iso
from intermodal.store import open_store
from intermodal.store.tables import cases, outbox
from intermodal_sim.odoo.testing import RunningSim
from intermodal_sim.testing import Receiver, free_port, running_hub, serve_in_thread, wait_until
from intermodal_sim.testing.odoo import seed_orders
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret
from tests.observe.helpers import milestone, send_webhook

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client) -> Samples:
    text = client.get("/metrics", headers=ADMIN).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def charge(event_id: str, subject: str, code: str, amount: str, currency: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "carrier",
            "type": "intermodal.charge.recorded",
            "subject": subject,
            "time": "2026-11-23T14:00:00Z",
            "data": {
                "code": code,
                "kind": "freight" if code == "FRT" else "fuel",
                "amount": {"amount": amount, "currency": currency},
                "status": "final",
            },
        }
    )


def test_metrics_match_the_scenario(
    db_url: str, sim: RunningSim, make_settings: Callable[..., Settings]
) -> None:
    secret = new_secret()
    portal = Receiver(fail_next=1, fail_status=503)
    refuser = Receiver(fail_next=10**9, fail_status=422)
    with (
        serve_in_thread(portal.app()) as portal_url,
        serve_in_thread(refuser.app()) as refuser_url,
    ):
        settings = make_settings(
            {
                "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
                "telemetry": {"metrics_cache_seconds": 0},
                "partners": {
                    "carrier": {"webhook_secrets": ["env:OBS_CARRIER_S"]},
                    "quiet": {"webhook_secrets": ["env:OBS_CARRIER_S"]},
                },
                "endpoints": {
                    "portal": {"url": f"{portal_url}/hooks", "milestones": ["delivered"]},
                    "refuser": {"url": f"{refuser_url}/hooks", "milestones": ["picked_up"]},
                    "down": {
                        "url": f"http://127.0.0.1:{free_port()}/hooks",
                        "milestones": ["delivered"],
                        "max_attempts": 100,
                    },
                    "odoo": {
                        "kind": "odoo",
                        "url": sim.url,
                        "milestones": ["picked_up"],
                        "options": {
                            "database": sim.db,
                            "api_key": "env:OBS_ODOO_KEY",
                            "protocol": "json2",
                            "linger_ms": 0,
                        },
                    },
                },
                "delivery": {
                    "backoff_base_seconds": 0.05,
                    "backoff_max_seconds": 0.2,
                    "breaker_failures": 2,
                    "breaker_reset_seconds": 300,
                },
            },
            env={"OBS_CARRIER_S": secret},
        )
        asyncio.run(seed_orders(settings.endpoints["odoo"], ["S1", "S2"]))
        sim.server.reset_counts()
        with running_hub(settings) as url, httpx.Client(base_url=url) as client:
            # The milestones come as one webhook (an array), so their commands are written
            # in one transaction and reach each endpoint in one dispatcher round: the down
            # endpoint then fails all three before its breaker opens, whatever the timing.
            milestones = [
                milestone("e1", "S1", "picked_up", 8),
                milestone("e2", "S1", "delivered", 12),
                milestone("e3", "S2", "picked_up", 9),
                milestone("e4", "S2", "delivered", 13),
                milestone("e5", "S3", "delivered", 15),
            ]
            bodies = [
                b"[" + b",".join(milestones) + b"]",
                charge("c1", "S1", "FRT", "1500.00", "EUR"),
                charge("c2", "S1", "FUEL", "120.50", "EUR"),
                charge("c3", "S2", "FRT", "900.00", "EUR"),
                charge("c4", "S3", "FRT", "75.00", "USD"),
            ]
            for n, body in enumerate(bodies):
                assert send_webhook(client, "carrier", secret, body, f"m{n}").status_code == 202
            assert send_webhook(client, "carrier", secret, bodies[0], "m0").status_code == 200
            forged = send_webhook(client, "carrier", new_secret(), bodies[1], "m-forged")
            assert forged.status_code == 401

            def v(m: Samples, name: str, **labels: str) -> float:
                return m.get((name, tuple(sorted(labels.items()))), 0.0)

            def settled() -> bool:
                m = scrape(client)
                total = "intermodal_outbox_commands_total"
                return (
                    v(m, total, endpoint="portal", result="delivered") == 3
                    and v(m, total, endpoint="refuser", result="dead") == 2
                    and v(m, total, endpoint="odoo", result="delivered") == 2
                    and v(m, "intermodal_outbox_retrying", endpoint="down") == 3
                    and v(m, "intermodal_breaker_state", endpoint="down") == 2
                )

            wait_until(settled, timeout=30)
            now = datetime.now(UTC)
            store = open_store(db_url, migrate=False)
            with store.write() as conn:
                conn.execute(
                    cases.insert(),
                    [
                        case_row("k1", "carrier_exception", "open", now - timedelta(minutes=10)),
                        case_row("k2", "carrier_exception", "open", now - timedelta(minutes=20)),
                        case_row("k3", "customs_hold", "open", now - timedelta(hours=2)),
                        case_row("k4", "sla_breach", "open", now - timedelta(days=2)),
                        case_row("k5", "sla_breach", "closed", now - timedelta(days=1)),
                        case_row("k6", "delivery_failed", "open", now - timedelta(days=5)),
                        case_row("k7", "billing_dispute", "closed", now - timedelta(hours=1)),
                    ],
                )
                conn.execute(  # S2's customer invoice, as the billing flow records it
                    outbox.insert().values(
                        command_id="cmd_invoice_s2",
                        endpoint="odoo",
                        kind="intermodal.odoo.invoice.create",
                        subject="S2",
                        payload=b"{}",
                        correlation_id="corr_inv",
                        status="delivered",
                        attempts=1,
                        next_attempt_at=iso(now),
                        created_at=iso(now),
                        delivered_at=iso(now),
                    )
                )
            store.dispose()
            m = scrape(client)
            odoo_counts = sim.server.call_counts()["calls"]

    def val(name: str, **labels: str) -> float:
        return v(m, name, **labels)

    # ingress: five distinct messages (nine events), one re-delivery, one forgery
    ingress = "intermodal_ingress_messages_total"
    assert val(ingress, partner="carrier", channel="webhook", result="accepted") == 5
    assert val(ingress, partner="carrier", channel="webhook", result="duplicate") == 1
    assert val(ingress, partner="carrier", channel="webhook", result="rejected") == 1
    ack = "intermodal_ingress_ack_seconds_count"
    assert val(ack, partner="carrier", channel="webhook") == 6
    assert val(ack, partner="quiet", channel="webhook") == 0
    assert val("intermodal_events_applied_total", partner="carrier", outcome="applied") == 9
    assert val("intermodal_inbox_pending") == 0
    # write transactions: one per inbox commit, and the applier's batches (its process)
    writes = "intermodal_store_write_seconds"
    commits = val(f"{writes}_count", stage="ingest")
    assert 1 <= commits <= 6 and commits == val("intermodal_group_commit_rows_count")
    assert val(f"{writes}_sum", stage="ingest") > 0
    assert val(f"{writes}_count", stage="apply") >= 1 and val(f"{writes}_sum", stage="apply") > 0

    # delivery: one retry at the portal, two dead letters, the down endpoint's breaker open
    total = "intermodal_outbox_commands_total"
    assert val(total, endpoint="portal", result="delivered") == 3
    assert val(total, endpoint="portal", result="retried") == 1
    assert val(total, endpoint="refuser", result="dead") == 2
    assert val(total, endpoint="refuser", result="retried") == 0
    # three failures in one round open the down endpoint's breaker; later passes defer
    assert val(total, endpoint="down", result="retried") == 3
    assert val(total, endpoint="down", result="delivered") == 0
    assert val("intermodal_dead_letters", endpoint="refuser") == 2
    assert val("intermodal_dead_letters", endpoint="portal") == 0
    assert val("intermodal_outbox_pending", endpoint="down") == 3
    assert val("intermodal_outbox_retrying", endpoint="down") == 3
    assert val("intermodal_outbox_pending", endpoint="portal") == 0
    assert val("intermodal_breaker_state", endpoint="down") == 2
    for closed in ("portal", "refuser", "odoo"):
        assert val("intermodal_breaker_state", endpoint=closed) == 0

    # Odoo: what the hub counted is what the Odoo test server served, call by call
    served = {
        (model, method): count
        for protocol in odoo_counts.values()
        for model, methods in protocol.items()
        for method, count in methods.items()
    }
    counted: dict[tuple[str, str], float] = {}
    for (name, labels), value in m.items():
        if name == "intermodal_odoo_calls_total" and value:
            key = (dict(labels)["model"], dict(labels)["method"])
            counted[key] = counted.get(key, 0) + value  # ok, retryable and error alike
    assert counted == served, (counted, served)
    validated = ("intermodal_odoo_calls_total", (("method", "button_validate"),
                 ("model", "stock.picking"), ("result", "ok")))  # fmt: skip
    assert m[validated] == 2
    assert sum(
        value for (name, _), value in m.items() if name == "intermodal_odoo_call_seconds_count"
    ) == sum(served.values())

    # business gauges
    assert val("intermodal_shipments", state="delivered") == 3
    cases_open = "intermodal_cases_open"
    assert val(cases_open, kind="carrier_exception", age="lt_1h") == 2
    assert val(cases_open, kind="customs_hold", age="1h_4h") == 1
    assert val(cases_open, kind="sla_breach", age="1d_3d") == 1
    assert val(cases_open, kind="delivery_failed", age="gt_3d") == 1
    assert sum(value for (name, _), value in m.items() if name == cases_open) == 5
    assert val("intermodal_sla_breaches", status="open") == 1
    assert val("intermodal_sla_breaches", status="closed") == 1
    assert val("intermodal_delivered_not_invoiced") == 2  # S1 and S3; S2 is invoiced
    assert val("intermodal_delivered_not_invoiced_value", currency="EUR") == 1620.5
    assert val("intermodal_delivered_not_invoiced_value", currency="USD") == 75.0
    freshness = val("intermodal_partner_freshness_seconds", partner="carrier")
    assert 0 <= freshness < 120
    assert ("intermodal_partner_freshness_seconds", (("partner", "quiet"),)) not in m


def v(m: Samples, name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def case_row(case_id: str, kind: str, status: str, opened: datetime) -> dict[str, object]:
    return {
        "case_id": case_id,
        "subject": "S1",
        "kind": kind,
        "team": "ops",
        "status": status,
        "reason": "scenario",
        "opened_at": iso(opened),
        "closed_at": iso(opened + timedelta(minutes=5)) if status == "closed" else None,
        "detail": "{}",
    }
