"""The interpreter alone (no database): what a trigger makes the flows do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from intermodal.canonical.model import MilestoneType
from intermodal.config import Settings
from intermodal.engine.apply import Mark, ShipmentState
from intermodal.workflows.engine import Effects, Orchestrator
from intermodal.workflows.spec import parse_flow
from intermodal.workflows.vocabulary import Trigger

FLOW = """
flow: demo
about: Chained transitions, a case, a once-only command.
states: [a, b, c]
start: a
transitions:
  - name: first
    from: [a]
    on: [milestone.delivered]
    emit: [{command: notify, to: notify}]
    to: b
  - name: second
    from: [b]
    on: [milestone.delivered]
    open_case: delivery_failed
    reason: "because {reason}"
    emit: [{command: odoo_milestone, to: odoo}, {command: invoice, to: odoo, once: true}]
    to: c
  - name: never
    from: [a]
    on: [milestone.delivered]
    to: a
  - name: close
    on: [milestone.returned]
    close_cases: [delivery_failed]
"""
AT = datetime(2026, 11, 23, 10, tzinfo=UTC)


def _settings(make_settings: Callable[..., Settings], **roles: str) -> Settings:
    return make_settings(
        {
            "endpoints": {"hooks": {"url": "http://127.0.0.1:9/h"}},
            "workflows": {"roles": roles},
        }
    )


def _trigger(trigger: str, event_id: str, **data: Any) -> Trigger:
    return Trigger(trigger, event_id, "carrier", AT, data, "corr-1")


def _delivered() -> ShipmentState:
    return ShipmentState(main=Mark(MilestoneType.DELIVERED, AT, "e1"))


def test_transitions_chain_once_per_trigger_and_skip_unplayed_roles(
    make_settings: Callable[..., Settings],
) -> None:
    flows = {"demo": parse_flow(FLOW, "demo.yaml")}
    o = Orchestrator(_settings(make_settings, notify="hooks"), flows)
    doc: dict[str, Any] = {}
    effects = Effects()
    trigger = _trigger("milestone.delivered", "e1", milestone="delivered", reason="rain")
    o.react("K1", _delivered(), doc, trigger, "now", effects)
    assert doc["flows"]["demo"]["state"] == "c"  # first, then second; `never` left behind
    # Only the notify role is played: odoo commands are not written at all.
    assert [c.kind for c in effects.commands] == ["intermodal.notify"]
    payload = orjson.loads(effects.commands[0].payload)  # type: ignore[arg-type]
    assert payload["data"] == {"shipment": "K1", "event": "milestone.delivered",
                               "milestone": "delivered", "reason": "rain"}  # fmt: skip
    (case,) = effects.opened_cases
    assert (case["kind"], case["reason"], case["team"]) == ("delivery_failed", "because rain",
                                                            "operations")  # fmt: skip
    assert doc["flows"]["cases"] == {"delivery_failed": case["case_id"]}

    # The same trigger on a fresh document gives the same ids: replays write nothing new.
    again = Effects()
    o.react("K1", _delivered(), {}, trigger, "later", again)
    assert [c.command_id for c in again.commands] == [c.command_id for c in effects.commands]
    assert again.opened_cases[0]["case_id"] == case["case_id"]

    closing = Effects()
    o.react("K1", _delivered(), doc, _trigger("milestone.returned", "e2"), "now", closing)
    assert closing.closed_cases == [case["case_id"]] and doc["flows"]["cases"] == {}
    o.react("K1", _delivered(), doc, _trigger("milestone.returned", "e3"), "now", closing)
    assert closing.closed_cases == [case["case_id"]]  # nothing left to close


def test_once_commands_keep_their_id_whatever_the_trigger(
    make_settings: Callable[..., Settings],
) -> None:
    flows = {"demo": parse_flow(FLOW, "demo.yaml")}
    settings = make_settings(
        {
            "endpoints": {
                "hooks": {"url": "http://127.0.0.1:9/h"},
                "erp": {"kind": "odoo", "url": "http://127.0.0.1:9/o",
                        "options": {"database": "x", "api_key": "env:X"}},
            },
            "workflows": {"roles": {"notify": "hooks", "odoo": "erp"}},
        }
    )  # fmt: skip
    o = Orchestrator(settings, flows)
    charge = {"code": "freight", "kind": "freight", "status": "final",
              "amount": {"amount": "10.00", "currency": "USD"}}  # fmt: skip
    kinds: dict[str, list[str]] = {}
    for event_id in ("e1", "e9"):
        doc = {
            "shipment": {
                "data": {"parties": [{"role": "customer", "name": "A", "reference": "A"}]}
            },
            "charges": {"freight": {"at": "x", "data": charge}},
        }
        effects = Effects()
        o.react("K2", _delivered(), doc, _trigger("milestone.delivered", event_id), "t", effects)
        for c in effects.commands:
            kinds.setdefault(c.kind, []).append(c.command_id)
    invoice = kinds["intermodal.odoo.invoice.create"]
    assert len(invoice) == 2 and invoice[0] == invoice[1]  # once: one id per shipment
    notify = kinds["intermodal.notify"]
    assert notify[0] != notify[1]  # per trigger


def test_a_timer_that_is_no_longer_pending_is_ignored(
    make_settings: Callable[..., Settings],
) -> None:
    o = Orchestrator(make_settings({"workflows": {}}))
    doc: dict[str, Any] = {"flows": {"timers": {}, "sla": {"state": "watching"}}}
    effects = Effects()
    fired = _trigger("timer.sla", "tmr_1", name="sla.delivered", milestone="delivered")
    o.react("K3", _delivered(), doc, fired, "now", effects)
    assert effects.opened_cases == [] and doc["flows"]["sla"]["state"] == "watching"
    doc["flows"]["timers"]["sla.delivered"] = {"id": "tmr_1", "due": "x", "payload": {}}
    o.react("K3", _delivered(), doc, fired, "now", effects)
    assert [c["kind"] for c in effects.opened_cases] == ["sla_breach"]
    assert doc["flows"]["timers"] == {} and doc["flows"]["sla"]["state"] == "breached"
