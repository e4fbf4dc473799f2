"""The TMS simulator against a real hub: tenders in, 990 / 214 / 210 (or JSON) out, applied."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.config import Settings
from intermodal_sim.partner import HubLink, webhook_key_of
from intermodal_sim.testing import running_hub, serve_in_thread, wait_until
from intermodal_sim.tms.app import TmsControl, TmsScript, TmsSimulator
from tests.conftest import new_secret
from tests.sim.conftest import (
    CLIENT,
    EXAMPLES,
    READ,
    READ_TOKEN,
    reader_hub,
    shipment,
    timeline,
    wait_for_state,
)

OWNS = ["booked", "dispatched", "picked_up", "in_transit", "delivered", "exception"]
TENDER = (EXAMPLES / "tms" / "sample_204.x12").read_bytes()


def tender_for(key: str, control: int) -> bytes:
    """The example 204 for another shipment, under another interchange number."""
    text = TENDER.decode().replace("SHP-2001", key)
    return text.replace("000000501", f"{control:09d}").encode()


@dataclass
class Rig:
    tms: str
    hub: str
    script: TmsScript
    link: HubLink


@contextmanager
def tms_with_hub(
    make_settings: Callable[..., Settings], database: str, reply: str, **script: Any
) -> Iterator[Rig]:
    """The TMS simulator and a hub wired to each other: the TMS reports as partner
    `tms-edi` (X12) or `tms` (JSON); the hub's 997s go back to the TMS's /edi."""
    secret = new_secret()
    partner = "tms-edi" if reply == "x12" else "tms"
    tms_script = TmsScript(reply="x12" if reply == "x12" else "json", **script)
    link = HubLink(None, partner, key=webhook_key_of(secret), backoff_seconds=0.05)
    simulator = TmsSimulator(tms_script, link)
    with serve_in_thread(simulator.app()) as tms_url:
        config: dict[str, Any] = {
            "hub": reader_hub(database),
            "delivery": {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
            "partners": {},
        }
        if reply == "x12":
            config["partners"]["tms-edi"] = {
                "kind": "tms",
                "webhook_secrets": ["env:TMS_SECRET"],
                "owns": OWNS,
                "mapping": str(EXAMPLES / "tms" / "mapping_x12.yaml"),
                "edi": {"format": "x12", "ack": True, "ack_endpoint": "tms-acks"},
            }
            config["endpoints"] = {
                "tms-acks": {"kind": "edi", "url": f"{tms_url}/edi", "milestones": []}
            }
        else:
            config["partners"]["tms"] = {
                "kind": "tms",
                "webhook_secrets": ["env:TMS_SECRET"],
                "owns": OWNS,
                "mapping": str(EXAMPLES / "tms" / "mapping.yaml"),
            }
        settings_ = make_settings(config, env={"TMS_SECRET": secret, "SIM_READ_TOKEN": READ_TOKEN})
        with running_hub(settings_) as hub_url:
            link.hub_url = hub_url
            yield Rig(tms_url, hub_url, tms_script, link)


def test_x12_tender_answered_with_990_then_214s_and_210_applied_by_the_hub(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    with tms_with_hub(
        make_settings, db_url, "x12", settle="x12", decisions={"SHP-2002": "decline"}
    ) as rig:
        answer = httpx.post(
            f"{rig.tms}/edi", content=TENDER, headers={"content-type": "application/edi-x12"}
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["loads"][0]["shipment_key"] == "SHP-2001"
        declined = httpx.post(f"{rig.tms}/edi", content=tender_for("SHP-2002", 502))
        assert declined.status_code == 202

        found = wait_for_state(rig.hub, "SHP-2001", "delivered")
        milestones = [e["milestone"] for e in timeline(rig.hub, "SHP-2001")]
        for step in ("booked", "dispatched", "picked_up", "in_transit", "delivered"):
            assert step in milestones
        wait_until(lambda: len(shipment(rig.hub, "SHP-2001")["charges"]) == 2)  # type: ignore[index]
        charges = {c["code"]: c for c in shipment(rig.hub, "SHP-2001")["charges"]}  # type: ignore[index]
        load = next(ld for ld in rig.script.loads.values() if ld.shipment_key == "SHP-2001")
        assert load.driver and load.truck and load.status == "delivered"
        cents = dict(load.charges)
        assert charges["freight"]["status"] == "final"
        assert charges["freight"]["amount"]["amount"] == f"{cents['freight'] / 100:.2f}"
        assert charges["fuel"]["amount"]["amount"] == f"{cents['fuel'] / 100:.2f}"
        assert found["counts"]["violation"] == 0

        refused = wait_for_state(rig.hub, "SHP-2002", "exception")
        assert refused["milestones"]["main"] is None
        reasons = [e for e in timeline(rig.hub, "SHP-2002") if e["milestone"] == "exception"]
        assert len(reasons) == 1
        # every report reached the hub, and the hub's 997s reached the TMS
        assert all(r["delivered"] for r in rig.link.log()), rig.link.log()
        wait_until(lambda: len(rig.script.acknowledgements) >= 7)
        assert {a["status"] for a in rig.script.acknowledgements} == {"A"}
        again = httpx.post(f"{rig.tms}/edi", content=TENDER)
        assert again.json()["loads"][0]["status"] == "duplicate"
        assert len(rig.script.loads) == 2
        assert httpx.get(f"{rig.tms}/_sim/loads").json()["failures"] == 0


def test_rest_job_from_the_hub_with_json_statuses_faults_and_settlement(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    faults = ["duplicates", "reorder", "exception"]
    with tms_with_hub(make_settings, sqlite_url, "json", settle="json") as rig:
        rig.script.apply(TmsControl(faults=faults))  # type: ignore[arg-type]
        job = {  # what the hub's dispatch job (a webhook endpoint in tms_mode rest) carries
            "specversion": "1.0",
            "id": "cmd_1",
            "source": "intermodal",
            "type": "intermodal.dispatch.requested",
            "subject": "SHP-7001",
            "time": "2026-03-02T08:00:00Z",
            "data": {
                "shipment": {
                    "key": "SHP-7001",
                    "stops": [
                        {
                            "sequence": 1,
                            "kind": "pickup",
                            "address": {"city": "Rotterdam", "country": "NL"},
                        },
                        {
                            "sequence": 2,
                            "kind": "delivery",
                            "address": {"city": "Lyon", "country": "FR"},
                        },
                    ],
                }
            },
        }
        created = httpx.post(f"{rig.tms}/v1/jobs", json=job)
        assert created.status_code == 201, created.text
        assert created.json()["jobs"][0]["origin"]["city"] == "Rotterdam"
        assert httpx.post(f"{rig.tms}/v1/jobs", json=job).json()["jobs"][0]["duplicate"]

        wait_for_state(rig.hub, "SHP-7001", "delivered")
        wait_until(lambda: len(shipment(rig.hub, "SHP-7001")["charges"]) == 2)  # type: ignore[index]
        events = timeline(rig.hub, "SHP-7001")
        by = {(e["milestone"], e["outcome"]) for e in events}
        assert ("in_transit", "late") in by  # reported after delivered: kept, not applied
        assert ("in_transit", "duplicate") in by  # the resent status
        assert ("exception", "late") in by or ("exception", "applied") in by
        loads = httpx.get(f"{rig.tms}/_sim/loads").json()
        assert loads["loads"][0]["status"] == "delivered" and loads["failures"] == 0
        located = httpx.get(f"{rig.hub}/v1/shipments/SHP-7001/timeline", headers=READ).json()
        assert len(located) == len(events)
        assert all(r["delivered"] for r in rig.link.log()), rig.link.log()


def test_stall_holds_a_load_until_resumed(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    with tms_with_hub(make_settings, sqlite_url, "json") as rig:
        assert (
            httpx.post(
                f"{rig.tms}/_sim/control", json={"load_faults": {"SHP-8001": ["stall"]}}
            ).status_code
            == 200
        )
        httpx.post(f"{rig.tms}/v1/jobs", json={"shipment_key": "SHP-8001"}).raise_for_status()
        wait_for_state(rig.hub, "SHP-8001", "picked_up")
        loads = httpx.get(f"{rig.tms}/_sim/loads").json()["loads"]
        assert loads[0]["status"] == "stalled"
        httpx.post(f"{rig.tms}/_sim/control", json={"resume": ["SHP-8001"]}).raise_for_status()
        wait_for_state(rig.hub, "SHP-8001", "delivered")


@pytest.fixture(scope="module")
def lone_tms() -> Iterator[str]:
    """A TMS with no hub: its reports are only logged."""
    simulator = TmsSimulator(TmsScript(tender_delay_ms=60_000), HubLink(None, "tms"))
    with serve_in_thread(simulator.app()) as url:
        yield url


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not edi at all", 400, "bad_edi"),
        ((EXAMPLES / "tms" / "sample_214.x12").read_bytes(), 422, "bad_tender"),
        (TENDER.replace(b"B2**SIMT**SHP-2001**PP~", b"B2**SIMT****PP~"), 422, "bad_tender"),
        (TENDER.replace(b"SE*12*0001", b"SE*13*0001"), 422, "bad_edi"),
        (b"ISA" + b"*" * 5000, 400, "bad_edi"),
    ],
)
def test_bad_tenders_are_refused_with_a_reason(
    lone_tms: str, body: bytes, status: int, code: str
) -> None:
    answer = httpx.post(f"{lone_tms}/edi", content=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


def test_bad_jobs_and_controls_name_the_field(lone_tms: str) -> None:
    bad = httpx.post(f"{lone_tms}/v1/jobs", json={"shipment_key": "has space"})
    assert bad.status_code == 422 and "shipment_key" in bad.json()["error"]["message"]
    assert httpx.post(f"{lone_tms}/v1/jobs", content=b"{").status_code == 400
    assert httpx.post(f"{lone_tms}/v1/jobs", json=[]).status_code == 422
    assert httpx.post(f"{lone_tms}/v1/jobs", json=[1]).status_code == 422
    control = httpx.post(f"{lone_tms}/_sim/control", json={"faults": ["teleport"]})
    assert control.status_code == 422 and "faults" in control.json()["error"]["message"]
    assert httpx.post(f"{lone_tms}/_sim/control", json={"nope": 1}).status_code == 422
    assert httpx.get(f"{lone_tms}/v1/jobs/L999").status_code == 404


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=400), st.sampled_from([TENDER[:n] for n in range(0, 400, 37)])
    )
)
def test_any_bytes_as_a_tender_get_an_answer_never_a_500(lone_tms: str, body: bytes) -> None:
    answer = CLIENT.post(f"{lone_tms}/edi", content=body)
    assert answer.status_code in (202, 400, 422), answer.text
    if answer.status_code != 202:
        assert answer.json()["error"]["message"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["shipment_key", "specversion", "data", "subject", "origin", "x"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_any_json_as_a_job_gets_an_answer_never_a_500(lone_tms: str, body: Any) -> None:
    answer = CLIENT.post(f"{lone_tms}/v1/jobs", content=orjson.dumps(body))
    assert answer.status_code in (200, 201, 422), answer.text


def test_a_resume_sent_before_the_stall_is_not_lost() -> None:
    script = TmsScript(reply="json", step_delay_ms=20)
    script.apply(TmsControl(load_faults={"SHP-R": ["stall"]}))  # type: ignore[dict-item]
    with serve_in_thread(TmsSimulator(script, HubLink(None, "tms")).app()) as tms:
        httpx.post(f"{tms}/v1/jobs", json={"shipment_key": "SHP-R"}).raise_for_status()
        httpx.post(f"{tms}/_sim/control", json={"resume": ["SHP-R"]}).raise_for_status()
        wait_until(lambda: script.load_of("SHP-R").status == "delivered")  # type: ignore[union-attr]
