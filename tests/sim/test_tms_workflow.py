"""The hub's own order-intake flow tenders to the TMS simulator (an X12 204 through an `edi`
endpoint, or the JSON dispatch job through a `webhook` endpoint), and the TMS's answers
take the shipment to delivered: the wiring `intermodal demo` and the workflow tests use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from intermodal.config import Settings
from intermodal.ingress.signatures import sign
from intermodal_sim.partner import HubLink, webhook_key_of
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from intermodal_sim.tms.app import TmsScript, TmsSimulator
from tests.conftest import new_secret
from tests.sim.conftest import EXAMPLES, READ_TOKEN, reader_hub, timeline, wait_for_state

OWNS = ["dispatched", "picked_up", "in_transit", "delivered", "exception"]


def _order(key: str) -> list[dict[str, Any]]:
    """What order intake sees from Odoo: the shipment, then its booking."""
    address = {"city": "Chicago", "region": "IL", "country": "US"}
    shipment = {
        "key": key,
        "stops": [
            {"sequence": 1, "kind": "pickup", "address": address},
            {
                "sequence": 2,
                "kind": "delivery",
                "address": {"city": "Kansas City", "region": "MO", "country": "US"},
            },
        ],
    }
    base = {"specversion": "1.0", "source": "odoo", "subject": key}
    return [
        {
            **base,
            "id": f"{key}-up",
            "type": "intermodal.shipment.upserted",
            "time": "2026-03-02T08:00:00Z",
            "data": shipment,
        },
        {
            **base,
            "id": f"{key}-booked",
            "type": "intermodal.shipment.milestone",
            "time": "2026-03-02T08:00:01Z",
            "data": {"milestone": "booked", "occurred_at": "2026-03-02T08:00:01Z"},
        },
    ]


@pytest.mark.parametrize("mode", ["x12", "rest"])
def test_order_intake_tenders_to_the_tms_and_its_answers_deliver_the_shipment(
    mode: str, sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    tms_secret, odoo_secret = new_secret(), new_secret()
    partner = "tms-edi" if mode == "x12" else "tms"
    script = TmsScript(reply="x12" if mode == "x12" else "json", decisions={"SO-2": "decline"})
    link = HubLink(None, partner, key=webhook_key_of(tms_secret), backoff_seconds=0.05)
    with serve_in_thread(TmsSimulator(script, link).app()) as tms:
        tms_partner: dict[str, Any] = {
            "kind": "tms",
            "webhook_secrets": ["env:TMS_SECRET"],
            "owns": OWNS,
            "mapping": str(
                EXAMPLES / "tms" / ("mapping_x12.yaml" if mode == "x12" else "mapping.yaml")
            ),
        }
        if mode == "x12":
            tms_partner["edi"] = {"format": "x12"}
        endpoint = (
            {"kind": "edi", "url": f"{tms}/edi", "milestones": []}
            if mode == "x12"
            else {"url": f"{tms}/v1/jobs", "milestones": []}
        )
        settings_ = make_settings(
            {
                "hub": reader_hub(sqlite_url),
                "delivery": {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
                "partners": {
                    partner: tms_partner,
                    "odoo": {"webhook_secrets": ["env:ODOO_SECRET"], "owns": ["booked"]},
                },
                "endpoints": {"dispatch": endpoint},
                "workflows": {
                    "flows": ["order_intake"],
                    "roles": {"tms": "dispatch", "tms_mode": mode},
                    "tender_x12": {"receiver_id": "SIMT", "scac": "SIMT"},
                },
            },
            env={
                "TMS_SECRET": tms_secret,
                "ODOO_SECRET": odoo_secret,
                "SIM_READ_TOKEN": READ_TOKEN,
            },
        )
        with running_hub(settings_) as hub:
            link.hub_url = hub
            key = webhook_key_of(odoo_secret)
            for number, order in enumerate(("SO-1", "SO-2")):
                body = orjson.dumps(_order(order))
                ts = int(time.time())
                answer = httpx.post(
                    f"{hub}/v1/webhooks/odoo",
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "webhook-id": f"o-{number}",
                        "webhook-timestamp": str(ts),
                        "webhook-signature": sign(key, f"o-{number}", ts, body),
                    },
                )
                assert answer.status_code == 202, answer.text
            wait_for_state(hub, "SO-1", "delivered")
            loads = {ld.shipment_key: ld for ld in script.loads.values()}
            assert loads["SO-1"].channel == ("x12" if mode == "x12" else "rest")
            assert loads["SO-1"].origin.city.upper() == "CHICAGO"
            refused = wait_for_state(hub, "SO-2", "exception")
            assert refused["milestones"]["main"] == "booked"
            reasons = [e for e in timeline(hub, "SO-2") if e["milestone"] == "exception"]
            assert reasons and reasons[0]["partner"] == partner
            wait_until(lambda: all(r["delivered"] for r in link.log()))
            assert len(script.loads) == 2  # one tender each, however often delivered
