"""The WMS and the customs broker simulators against a real hub, and their hostile input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.config import Settings
from intermodal_sim.customs.app import CustomsScript, CustomsSimulator
from intermodal_sim.partner import HubLink, webhook_key_of
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from intermodal_sim.wms.app import WmsScript, WmsSimulator
from tests.conftest import new_secret
from tests.sim.conftest import (
    CLIENT,
    EXAMPLES,
    READ,
    READ_TOKEN,
    reader_hub,
    timeline,
    wait_for_state,
)

HOSTILE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "order_id",
                    "shipment_key",
                    "lines",
                    "sku",
                    "qty",
                    "specversion",
                    "data",
                    "subject",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=15,
)


@contextmanager
def hub_for(
    make_settings: Callable[..., Settings],
    database: str,
    partner: str,
    mapping: str | None,
    owns: list[str],
) -> Iterator[tuple[str, str]]:
    """A hub with one partner reporting with a fresh secret: (hub URL, the secret)."""
    secret = new_secret()
    config: dict[str, Any] = {"webhook_secrets": ["env:SIM_SECRET"], "owns": owns}
    if mapping is not None:
        config["mapping"] = str(EXAMPLES / mapping)
    settings_ = make_settings(
        {
            "hub": reader_hub(database),
            "partners": {partner: config},
        },
        env={"SIM_SECRET": secret, "SIM_READ_TOKEN": READ_TOKEN},
    )
    with running_hub(settings_) as url:
        yield url, secret


def test_wms_confirmations_and_a_short_pick_are_applied(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    owns = ["picked_up", "exception"]
    with hub_for(make_settings, sqlite_url, "wms", "wms/mapping.yaml", owns) as (hub, secret):
        script = WmsScript(stock={"SKU-7": 3})
        link = HubLink(hub, "wms", key=webhook_key_of(secret), backoff_seconds=0.05)
        with serve_in_thread(WmsSimulator(script, link).app()) as wms:
            order = {
                "order_id": "ORD-1",
                "shipment_key": "SHP-3001",
                "lines": [{"sku": "SKU-7", "qty": 5}, {"sku": "SKU-9", "qty": 2}],
            }
            assert httpx.post(f"{wms}/v1/orders", json=order).status_code == 201
            assert httpx.post(f"{wms}/v1/orders", json=order).json()["duplicate"]
            wait_for_state(hub, "SHP-3001", "picked_up")
            wait_until(lambda: len(link.log()) == 4)
            assert [r["kind"] for r in link.log()] == ["SHORT_PICK", "PICKED", "PACKED", "SHIPPED"]
            assert all(r["delivered"] for r in link.log()), link.log()
            events = timeline(hub, "SHP-3001")
            assert [(e["milestone"], e["outcome"]) for e in events] == [
                ("exception", "applied"),
                ("picked_up", "applied"),
            ]
            receipt = link.log()[0]["answer"]["receipt_id"]
            found = httpx.get(f"{hub}/v1/receipts/{receipt}", headers=READ).json()
            assert found["status"] == "applied", found
            lines = httpx.get(f"{wms}/v1/orders/ORD-1").json()["lines"]
            assert lines[0] == {"sku": "SKU-7", "qty": 5, "picked": 3}
            assert script.stock["SKU-7"] == 0
            # nothing in stock at all: the order stops at its short pick
            empty = {"order_id": "ORD-2", "shipment_key": "SHP-3002",
                     "lines": [{"sku": "SKU-7", "qty": 1}]}  # fmt: skip
            httpx.post(f"{wms}/v1/orders", json=empty).raise_for_status()
            found_state = wait_for_state(hub, "SHP-3002", "exception")
            assert found_state["milestones"]["main"] is None
            wait_until(lambda: script.orders["ORD-2"].status == "unfulfillable")


def test_wms_holds_an_order_before_shipping_until_released() -> None:
    script = WmsScript(hold={"ORD-9"})
    link = HubLink(None, "wms")
    with serve_in_thread(WmsSimulator(script, link).app()) as wms:
        body = {"order_id": "ORD-9", "shipment_key": "S-9", "lines": [{"sku": "A", "qty": 1}]}
        httpx.post(f"{wms}/v1/orders", json=body).raise_for_status()
        wait_until(lambda: script.orders["ORD-9"].status == "held")
        assert [r["kind"] for r in link.log()] == ["PICKED", "PACKED"]
        httpx.post(f"{wms}/_sim/control", json={"release": ["ORD-9"]}).raise_for_status()
        wait_until(lambda: script.orders["ORD-9"].status == "shipped")
        assert link.log()[-1]["kind"] == "SHIPPED"
        assert link.log()[-1]["error"] == "standalone: no hub URL configured"


def test_customs_hold_then_release_is_applied(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    owns = ["customs_hold", "customs_released"]
    mapping = "customs/mapping.yaml"
    with hub_for(make_settings, db_url, "customs", mapping, owns) as (hub, secret):
        script = CustomsScript()
        link = HubLink(hub, "customs", key=webhook_key_of(secret), backoff_seconds=0.05)
        with serve_in_thread(CustomsSimulator(script, link).app()) as broker:
            control = {
                "holds": {"SHP-4001": {"code": "DOCS", "reason": "commercial invoice missing"}}
            }
            httpx.post(f"{broker}/_sim/control", json=control).raise_for_status()
            filing = httpx.post(f"{broker}/v1/filings", json={"shipment_key": "SHP-4001"})
            assert filing.status_code == 201, filing.text
            held = wait_for_state(hub, "SHP-4001", "customs_hold")
            assert held["customs"] == "hold"
            reasons = [
                e for e in timeline(hub, "SHP-4001") if e["type"] == "intermodal.customs.updated"
            ]
            assert len(reasons) == 2  # filed (pending), then the hold
            released = httpx.post(f"{broker}/_sim/control", json={"release": ["SHP-4001"]})
            assert released.json()["released"] == ["SHP-4001"]
            done = wait_for_state(hub, "SHP-4001", "customs_released")
            assert done["customs"] == "released"
            assert [r["kind"] for r in link.log()] == ["FILED", "HOLD", "RELEASED"]
            assert all(r["delivered"] for r in link.log()), link.log()
            assert done["counts"]["violation"] == 0


def test_customs_in_cloudevents_needs_no_mapping_and_releases_on_a_timer(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    owns = ["customs_hold", "customs_released"]
    with hub_for(make_settings, sqlite_url, "customs-ce", None, owns) as (hub, secret):
        script = CustomsScript(format="cloudevents")
        link = HubLink(hub, "customs-ce", key=webhook_key_of(secret), backoff_seconds=0.05)
        with serve_in_thread(CustomsSimulator(script, link).app()) as broker:
            control = {"holds": {"SHP-4002": {"release_after_ms": 300}}}
            httpx.post(f"{broker}/_sim/control", json=control).raise_for_status()
            httpx.post(f"{broker}/v1/filings", json={"shipment_key": "SHP-4002"})
            done = wait_for_state(hub, "SHP-4002", "customs_released")
            assert done["customs"] == "released"
            kinds = [(e["type"], e["milestone"]) for e in timeline(hub, "SHP-4002")]
            assert ("intermodal.shipment.milestone", "customs_hold") in kinds


@pytest.fixture(scope="module")
def lone_sims() -> Iterator[tuple[str, str]]:
    """A WMS and a broker with no hub, slow to act: (wms URL, broker URL)."""
    wms = WmsSimulator(WmsScript(stage_delays_ms={"pick": 60_000}), HubLink(None, "wms"))
    broker = CustomsSimulator(CustomsScript(), HubLink(None, "customs"))
    with serve_in_thread(wms.app()) as wms_url, serve_in_thread(broker.app()) as broker_url:
        yield wms_url, broker_url


def test_bad_orders_and_filings_name_the_field(lone_sims: tuple[str, str]) -> None:
    wms, broker = lone_sims
    bad = httpx.post(f"{wms}/v1/orders", json={"order_id": "O", "shipment_key": "S", "lines": []})
    assert bad.status_code == 422 and "lines" in bad.json()["error"]["message"]
    qty = {"order_id": "O", "shipment_key": "S", "lines": [{"sku": "A", "qty": 0}]}
    assert "qty" in httpx.post(f"{wms}/v1/orders", json=qty).json()["error"]["message"]
    assert httpx.post(f"{wms}/v1/orders", content=b"\xff").status_code == 400
    big = b'{"x": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    assert httpx.post(f"{wms}/v1/orders", content=big).status_code == 413
    filing = httpx.post(f"{broker}/v1/filings", json={"shipment_key": "S 1"})
    assert filing.status_code == 422 and "shipment_key" in filing.json()["error"]["message"]
    country = httpx.post(f"{broker}/v1/filings", json={"shipment_key": "S", "origin_country": "x"})
    assert "origin_country" in country.json()["error"]["message"]
    control = httpx.post(f"{broker}/_sim/control", json={"hold_rate": 2})
    assert control.status_code == 422 and "hold_rate" in control.json()["error"]["message"]
    assert httpx.get(f"{wms}/v1/orders/nope").status_code == 404
    first = {"order_id": "O-C", "shipment_key": "S-1", "lines": [{"sku": "A", "qty": 1}]}
    assert httpx.post(f"{wms}/v1/orders", json=first).status_code == 201
    reused = httpx.post(f"{wms}/v1/orders", json={**first, "shipment_key": "S-2"})
    assert reused.status_code == 409 and "S-1" in reused.json()["error"]["message"]
    mine = {"shipment_key": "S-10", "filing_id": "F000002"}
    assert httpx.post(f"{broker}/v1/filings", json=mine).status_code == 201
    assert httpx.post(f"{broker}/v1/filings", json={"shipment_key": "S-11"}).status_code == 201
    clash = httpx.post(
        f"{broker}/v1/filings", json={"shipment_key": "S-12", "filing_id": "F000002"}
    )
    assert clash.status_code == 409
    filings = httpx.get(f"{broker}/_sim/filings").json()["filings"]
    ids = {f["shipment_key"]: f["filing_id"] for f in filings}
    assert ids["S-10"] == "F000002" and ids["S-11"] != "F000002" and "S-12" not in ids
    assert len({f["filing_id"] for f in filings}) == len(filings)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=HOSTILE_JSON, raw=st.binary(max_size=60))
def test_any_body_to_the_wms_and_the_broker_gets_an_answer_never_a_500(
    lone_sims: tuple[str, str], body: Any, raw: bytes
) -> None:
    for base, path in ((lone_sims[0], "/v1/orders"), (lone_sims[1], "/v1/filings")):
        for content in (orjson.dumps(body), raw):
            answer = CLIENT.post(base + path, content=content)
            assert answer.status_code in (200, 201, 400, 409, 422), answer.text
            if answer.status_code >= 400:
                assert answer.json()["error"]["message"]
        control = CLIENT.post(base + "/_sim/control", content=orjson.dumps(body))
        assert control.status_code in (200, 400, 422), control.text
