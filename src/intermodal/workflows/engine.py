"""The interpreter: a trigger in, the effects of every flow's matching transitions out.

`Orchestrator.react` is called by the applier for each event it applies to a shipment
(and for each timer that fires). It reads and updates only the shipment's document (the
flows' state lives in `doc["flows"]`, which the applier loads and saves with the shipment
anyway, so flows cost the hot path no queries) and appends rows to `Effects`: outbox
commands, timers set and cancelled, cases opened and closed. The applier writes those in
the same transaction as the state change, so a crash keeps all of it or none.

Semantics, kept small on purpose:
- the flows run in configuration order; within a flow the transitions are tried in file
  order, each at most once per trigger, and a transition that fires moves the flow's state
  before the next one is tried (so "note the dispute" and "invoice anyway" can both fire);
- ids are stable: a command's id derives from flow, transition, command, shipment and
  (unless `once`) the trigger's event id; a case's from shipment, kind and trigger; a
  timer's from shipment, name and due time. Replays and retries produce the same rows,
  and the outbox/cases/timers unique keys turn a second insert into nothing;
- one open case per kind per shipment; opening it again is a no-op until it is closed;
- a timer that fires after it was cancelled (the cancel raced the timer worker) finds no
  pending entry in the document and does nothing;
- a case's Odoo activities are the flow's `activity` commands of the transition that
  opened it or, later, of its flow while it is open (a broker's hold: the case first, the
  activity at the next delivery), and the activities of the milestones of its kind while
  it is open (a failed delivery's, a customs hold's: `MILESTONE_CASES`); when the case
  closes, by the flows or by a person, one `intermodal.odoo.activity.done` command marks
  them done in Odoo (`mail.activity.action_feedback`), whatever flow closed it and
  whether or not a flow listens for the close.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from intermodal.canonical.model import MilestoneType
from intermodal.config import Settings
from intermodal.engine.apply import ShipmentState
from intermodal.engine.ids import iso, stable_id
from intermodal.outbox.command import OutboundCommand, Render
from intermodal.outbox.kinds import INVOICE_COMMAND
from intermodal.workflows.spec import Flow, Transition, load_flows
from intermodal.workflows.vocabulary import (
    ACTIVITY_COMMAND,
    ADJUST_COMMAND,
    CASE_TRIGGERS,
    COMMANDS,
    CONDITIONS,
    CONNECTOR_TRIGGERS,
    DEFAULT_TEAMS,
    DOCUMENT_TRIGGERS,
    MESSAGE_TRIGGERS,
    MILESTONE_CASES,
    MILESTONE_COMMAND,
    READ_TRIGGERS,
    TIMER_TRIGGERS,
    Context,
    Convert,
    Trigger,
    book_invoice,
    case_feedback,
    sla_reached,
    sla_timers,
)

DONE_COMMAND = "intermodal.odoo.activity.done"


@dataclass
class Effects:
    """Rows the applier writes with the state change (same transaction)."""

    commands: list[OutboundCommand] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    cancelled_timers: list[str] = field(default_factory=list)
    opened_cases: list[dict[str, Any]] = field(default_factory=list)
    closed_cases: list[str] = field(default_factory=list)


class Orchestrator:
    """Runs the configured flows over one shipment's triggers."""

    def __init__(self, settings: Settings, flows: dict[str, Flow] | None = None) -> None:
        if settings.workflows is None:
            raise ValueError("the configuration has no `workflows` section")
        self.config = settings.workflows
        self.partners = settings.partners
        available = flows if flows is not None else load_flows()
        names = self.config.flows if self.config.flows is not None else list(available)
        self.flows = [available[name] for name in names]
        roles = self.config.roles
        self.endpoints: dict[str, str | None] = {
            "odoo": roles.odoo, "tms": roles.tms, "notify": roles.notify,
            "customs": roles.customs,
        }  # fmt: skip
        # Per trigger name, each flow's candidate transitions (file order kept): the hot
        # path tries only those, and skips triggers no flow listens to.
        self._candidates: dict[str, list[tuple[Flow, list[Transition]]]] = {}
        for name in all_triggers():
            found = [(f, [t for t in f.transitions if _matches(t, name)]) for f in self.flows]
            self._candidates[name] = [(f, ts) for f, ts in found if ts]
        self._wanted = {n for n, c in self._candidates.items() if c} | _BOOKKEEPING

    def wants(self, trigger_name: str) -> bool:
        """Whether any flow (or the flows' bookkeeping) reacts to this trigger."""
        return trigger_name in self._wanted

    def _team(self, kind: str) -> str:
        teams = {str(k): v for k, v in self.config.teams.items()}
        return teams.get(kind) or DEFAULT_TEAMS.get(kind, "operations")

    @property
    def role_endpoints(self) -> frozenset[str]:
        """Endpoints driven by the flows: the applier's plain milestone fan-out skips them."""
        return frozenset(e for e in self.endpoints.values() if e is not None)

    def react(
        self,
        key: str,
        state: ShipmentState,
        doc: dict[str, Any],
        trigger: Trigger,
        now: str,
        effects: Effects,
        convert: Convert | None = None,
    ) -> None:
        flows_doc: dict[str, Any] = doc.setdefault("flows", {})
        if trigger.name.startswith("timer."):
            timers = flows_doc.get("timers") or {}
            name = str(trigger.data.get("name"))
            if name not in timers or timers[name]["id"] != trigger.event_id:
                return  # cancelled (or replaced) before it fired
            del timers[name]
        if trigger.name == "case.closed":
            cases = flows_doc.get("cases") or {}
            kind = str(trigger.data.get("kind"))
            case_id = str(trigger.data.get("case_id"))
            if cases.get(kind) != case_id:
                return  # the flows closed it themselves, or it is not theirs
            del cases[kind]  # closed by a person (the control tower): the flows go on
            self._activities_done(key, flows_doc, case_id, kind, trigger, now, effects)
        if trigger.name == "milestone.booked" and "booked_at" not in flows_doc:
            flows_doc["booked_at"] = iso(trigger.at)  # the SLA clock's start
        if trigger.name == "charge.recorded" and trigger.data.get("status") == "provisional":
            # The quote is kept apart: the final charge replaces it in doc["charges"].
            flows_doc.setdefault("quotes", {})[trigger.data["code"]] = trigger.data["amount"]
        for flow in self.flows:
            flows_doc.setdefault(flow.flow, {"state": flow.start})
        ctx = Context(key, state, doc, trigger, self.config, self.partners, convert)
        emitted: list[tuple[str, str | None, OutboundCommand]] = []
        for flow, transitions in self._candidates.get(trigger.name, ()):
            flow_state = flows_doc[flow.flow]
            for t in transitions:
                if t.from_ is not None and flow_state["state"] not in t.from_:
                    continue
                if not _holds(t, ctx):
                    continue
                self._fire(flow, t, ctx, now, effects, emitted)
                if t.to is not None:
                    flow_state["state"] = t.to
                flow_state["last"] = {"transition": t.name, "at": now}
        self._link_activities(flows_doc, trigger, emitted)

    def _link_activities(
        self,
        flows_doc: dict[str, Any],
        trigger: Trigger,
        emitted: list[tuple[str, str | None, OutboundCommand]],
    ) -> None:
        """Remember which Odoo activities belong to which open case (see the module's
        docstring); the markers are the ids of the commands that create them:

        - a flow's `activity` belongs to the case its transition opens, else to the open
          cases its flow opened (a broker's hold: the case came first, the activity later);
        - a milestone's own activity (the connector opens one for the milestones that need
          a person) belongs to the open case of that milestone's kind (MILESTONE_CASES)."""
        cases: dict[str, str] = flows_doc.get("cases") or {}
        links: dict[str, Any] = flows_doc.setdefault("case_activities", {})
        for case_id in cases.values():  # a case opened before the hub kept these
            links.setdefault(case_id, {"flow": None, "markers": []})
        milestone_case = MILESTONE_CASES.get(trigger.name.removeprefix("milestone."))
        for flow, opened_kind, command in emitted:
            if command.kind == ACTIVITY_COMMAND:
                if opened_kind is not None and opened_kind in cases:
                    owners = [cases[opened_kind]]
                else:
                    owners = [c for c in cases.values() if links[c]["flow"] == flow]
            elif command.kind == MILESTONE_COMMAND and milestone_case in cases:
                owners = [cases[milestone_case]]
            else:
                continue
            for case_id in owners:
                if command.command_id not in links[case_id]["markers"]:
                    links[case_id]["markers"].append(command.command_id)
        for case_id in [c for c in links if c not in cases.values()]:
            del links[case_id]  # closed without the hub's knowing (should not happen)

    def _activities_done(
        self,
        key: str,
        flows_doc: dict[str, Any],
        case_id: str,
        kind: str,
        trigger: Trigger,
        now: str,
        effects: Effects,
    ) -> None:
        """The case closed: its Odoo activities are marked done, with why as feedback."""
        link = (flows_doc.get("case_activities") or {}).pop(case_id, None)
        endpoint = self.endpoints["odoo"]
        if not link or not link["markers"] or endpoint is None:
            return
        command_id = stable_id("cmd", "case", "activity_done", case_id)
        envelope = {
            "specversion": "1.0",
            "id": command_id,
            "source": "intermodal",
            "type": DONE_COMMAND,
            "subject": key,
            "time": now,
            "datacontenttype": "application/json",
            "data": {
                "markers": link["markers"][:50],
                "feedback": case_feedback(kind, trigger)[:4000],
            },
            "flow": link["flow"] or "cases",
            "causationid": trigger.event_id[:1024],
        }
        effects.commands.append(
            OutboundCommand(
                command_id, endpoint, DONE_COMMAND, key, orjson.dumps(envelope),
                trigger.correlation_id, now,
            )
        )  # fmt: skip

    def _fire(
        self,
        flow: Flow,
        t: Transition,
        ctx: Context,
        now: str,
        effects: Effects,
        emitted: list[tuple[str, str | None, OutboundCommand]] | None = None,
    ) -> None:
        trigger, key, flows_doc = ctx.trigger, ctx.key, ctx.flows
        for emit in t.emit:
            endpoint = self.endpoints[emit.to]
            if endpoint is None:
                continue  # role not configured: nothing to send
            command = COMMANDS[emit.command](ctx)
            if command is None:
                continue
            parts = [flow.flow, t.name, emit.command, key]
            if not emit.once:
                parts.append(trigger.event_id)
            command_id = stable_id("cmd", *parts)
            payload: bytes | Render
            if command.render is not None:
                payload = command.render
            else:
                envelope = {
                    "specversion": "1.0",
                    "id": command_id,
                    "source": "intermodal",
                    "type": command.type,
                    "subject": key,
                    "time": now,
                    "datacontenttype": "application/json",
                    "data": command.data,
                    "flow": flow.flow,
                    "causationid": trigger.event_id[:1024],
                    **command.extensions,
                }
                payload = orjson.dumps(envelope)
            outbound = OutboundCommand(
                command_id, endpoint, command.type, key, payload, trigger.correlation_id, now
            )
            effects.commands.append(outbound)
            if emitted is not None:
                emitted.append((flow.flow, t.open_case, outbound))
            if command.type in (INVOICE_COMMAND, ADJUST_COMMAND):
                book_invoice(flows_doc, command.data)  # what Odoo is (about to be) billed
        cases = flows_doc.setdefault("cases", {})
        for kind in t.close_cases:
            case_id = cases.pop(kind, None)
            if case_id is not None:
                effects.closed_cases.append(case_id)
                self._activities_done(key, flows_doc, case_id, kind, trigger, now, effects)
        if t.open_case is not None and t.open_case not in cases:
            kind = t.open_case
            case_id = stable_id("case", key, kind, trigger.event_id)
            cases[kind] = case_id
            flows_doc.setdefault("case_activities", {})[case_id] = {"flow": flow.flow,
                                                                    "markers": []}  # fmt: skip
            values = defaultdict(str, {k: str(v) for k, v in trigger.data.items()})
            effects.opened_cases.append(
                {
                    "case_id": case_id,
                    "subject": key,
                    "kind": kind,
                    "team": self._team(kind),
                    "status": "open",
                    "reason": (t.reason or kind).format_map(values)[:2000],
                    "opened_at": now,
                    "detail": orjson.dumps(
                        {
                            "flow": flow.flow,
                            "transition": t.name,
                            "trigger": trigger.name,
                            "event_id": trigger.event_id,
                            "partner": trigger.partner,
                            "at": iso(trigger.at),
                            "data": trigger.data,
                        }
                    ).decode(),
                }
            )
        timers = flows_doc.setdefault("timers", {})
        if t.cancel_timers == "sla_reached":
            for name in sla_reached(ctx):
                effects.cancelled_timers.append(timers.pop(name)["id"])
        if t.set_timers == "sla":
            for name, due, data in sla_timers(ctx):
                if name in timers:
                    continue
                timer_id = stable_id("tmr", key, name, iso(due))
                timers[name] = {"id": timer_id, "due": iso(due), "payload": data}
                effects.timers.append(
                    {
                        "timer_id": timer_id,
                        "subject": key,
                        "kind": name.split(".", 1)[0],
                        "due_at": iso(due),
                        "payload": orjson.dumps({"name": name, "flow": flow.flow, **data}).decode(),
                        "status": "pending",
                    }
                )


_BOOKKEEPING = frozenset({"milestone.booked", "charge.recorded", "case.closed"})
"""Triggers the interpreter itself acts on (the booking time, quotes, a closed case's
activities), whatever the flows."""


def all_triggers() -> list[str]:
    """Every concrete trigger name (`milestone.any` stands for the milestone ones)."""
    return [
        *DOCUMENT_TRIGGERS, *MESSAGE_TRIGGERS, *TIMER_TRIGGERS, *CASE_TRIGGERS,
        *READ_TRIGGERS, *CONNECTOR_TRIGGERS, *(f"milestone.{m.value}" for m in MilestoneType),
    ]  # fmt: skip


def _matches(t: Transition, name: str) -> bool:
    return name in t.on or (name.startswith("milestone.") and "milestone.any" in t.on)


def _holds(t: Transition, ctx: Context) -> bool:
    for condition in t.when:
        negated = condition.startswith("not ")
        if CONDITIONS[condition.removeprefix("not ").strip()](ctx) == negated:
            return False
    return True


def internal_trigger(channel: str, body: bytes, correlation_id: str) -> tuple[str, Trigger]:
    """A message the hub wrote to itself (a timer fired, a case was closed, a document was
    read, Odoo did not do what a command asked) as (subject, trigger)."""
    value = orjson.loads(body)
    if channel == "document.read":  # foresight/documents_reader.py
        return value["subject"], Trigger(
            name="document.read",
            event_id=f"read:{value['document_id']}",
            partner=str(value["partner"]),
            at=datetime.fromisoformat(value["read_at"]),
            data=dict(value["data"]),
            correlation_id=correlation_id,
        )
    if channel == "odoo":  # the Odoo connector's report: Odoo did not do what was asked
        return value["subject"], Trigger(
            name="odoo.refused",
            event_id=str(value["id"]),
            partner=str(value["endpoint"]),
            at=datetime.fromisoformat(value["at"]),
            data={"reason": str(value["reason"]), **dict(value.get("detail") or {})},
            correlation_id=correlation_id,
        )
    if channel == "case":
        data = {"case_id": value["case_id"], "kind": value["kind"]}
        data.update({k: str(value[k]) for k in ("closed_by", "note") if value.get(k)})
        return value["subject"], Trigger(
            name="case.closed",
            event_id=f"closed:{value['case_id']}",
            partner="intermodal",
            at=datetime.fromisoformat(value["closed_at"]),
            data=data,
            correlation_id=correlation_id,
        )
    payload = value["payload"]
    return value["subject"], Trigger(
        name=f"timer.{value['kind']}",
        event_id=value["timer_id"],
        partner="intermodal",
        at=datetime.fromisoformat(value["due_at"]),
        data=payload,
        correlation_id=correlation_id,
    )
