"""The words flow files may use: triggers, conditions, commands, timer sets, case kinds.

Conditions and command builders are pure functions of a `Context` (the shipment's state
and document, the trigger, the configuration); they do no I/O, so the interpreter can run
inside the applier's decide step and a flow can be tested without a database. The one
exception is the X12 204, whose envelope needs control numbers: its builder returns a
`render(conn)` that the applier calls inside the write transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

from intermodal.canonical.model import MAIN_CHAIN, MilestoneType
from intermodal.outbox.kinds import INVOICE_COMMAND

CaseKind = Literal[
    "delivery_failed", "carrier_exception", "customs_hold", "sla_breach", "billing_dispute",
    "no_rate",
    "predicted_delay",  # opened by foresight/warnings.py before an SLA breach, not by a flow
    "anomaly",
    "odoo_refused",
]  # fmt: skip
CASE_KINDS: tuple[str, ...] = get_args(CaseKind)
"""The kinds of exception case (the `cases` table): the flows open them, the tower lists them.
`anomaly` cases are opened and closed by the anomaly detectors (foresight/anomalies.py), not
by a flow: a partner gone quiet, a burst of exceptions, a long dwell, milestones out of order."""

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from intermodal.config import Partner, WorkflowsConfig
    from intermodal.engine.apply import ShipmentState

ROLES = ("odoo", "tms", "notify", "customs")
ACTIVITY_COMMAND = "intermodal.odoo.activity.create"
MILESTONE_COMMAND = "intermodal.shipment.milestone"
MILESTONE_CASES = {"delivery_failed": "delivery_failed", "exception": "carrier_exception",
                   "customs_hold": "customs_hold"}  # fmt: skip
"""The case a milestone's own Odoo activity is about (the connector opens one for the
milestones that need a person: connectors/odoo/mappings/mail_activity.py NEEDS_A_PERSON)."""
ADJUST_COMMAND = "intermodal.odoo.invoice.adjust"
DEFAULT_TEAMS = {"billing_dispute": "billing", "no_rate": "billing", "customs_hold": "customs"}
DOCUMENT_TRIGGERS = ("shipment.upserted", "pod.received", "charge.recorded", "customs.updated")
MESSAGE_TRIGGERS = ("shipment.changed",)
"""Once per delivery (a message, or one batch request's events) and shipment, after all its
events were applied."""
TIMER_TRIGGERS = ("timer.sla",)
CASE_TRIGGERS = ("case.closed",)
"""A case closed outside the flows (by a person in the control tower)."""
READ_TRIGGERS = ("document.read",)
"""A proof of delivery or freight invoice read by the hub (foresight/documents_reader.py),
after the events it asserted; its data says what was read and, for an invoice, whether it
matches the quote and the carrier's 210 (`disputed`, `reason`, `document_url`)."""
CONNECTOR_TRIGGERS = ("odoo.refused",)
"""Odoo did not do what a command asked (a delivery still not validated after the hub
validated it, a refusal): the Odoo connector reports it back (workflows/timers.py, channel
`odoo`)."""
TIMER_ACTIONS = ("sla", "sla_reached")
_RANK = {m: i for i, m in enumerate(MAIN_CHAIN)}

Convert = Callable[[Decimal, str, str, datetime], Decimal | None]
"""amount, from currency, to currency, on date -> amount, or None when no rate is known."""


def is_trigger(name: str) -> bool:
    if name in (*DOCUMENT_TRIGGERS, *MESSAGE_TRIGGERS, *TIMER_TRIGGERS, *CASE_TRIGGERS,
                *READ_TRIGGERS, *CONNECTOR_TRIGGERS, "milestone.any"):  # fmt: skip
        return True
    milestone = name.removeprefix("milestone.")
    return name.startswith("milestone.") and milestone in MilestoneType._value2member_map_


def trigger_names() -> str:
    return ", ".join(
        [
            *DOCUMENT_TRIGGERS,
            *MESSAGE_TRIGGERS,
            *TIMER_TRIGGERS,
            *CASE_TRIGGERS,
            *READ_TRIGGERS,
            *CONNECTOR_TRIGGERS,
            "milestone.any",
            "milestone.<milestone>",
        ]
    )


@dataclass(frozen=True)
class Trigger:
    """What just happened to the shipment: an applied event, or a timer that fired."""

    name: str
    """`milestone.<m>`, `pod.received`, `charge.recorded`, ..., `timer.sla`."""
    event_id: str
    partner: str
    at: datetime
    data: dict[str, Any]
    correlation_id: str


@dataclass
class Context:
    key: str
    state: ShipmentState
    doc: dict[str, Any]
    trigger: Trigger
    config: WorkflowsConfig
    partners: dict[str, Partner] = field(default_factory=dict)
    convert: Convert | None = None

    @property
    def flows(self) -> dict[str, Any]:
        value: dict[str, Any] = self.doc.setdefault("flows", {})
        return value

    @property
    def shipment(self) -> dict[str, Any]:
        value: dict[str, Any] = (self.doc.get("shipment") or {}).get("data") or {}
        return value


# -- conditions -------------------------------------------------------------------------------
def _customs_state(ctx: Context) -> str | None:
    """The customs status: the broker's newest (customs.updated), else the shipment's own,
    else what a customs_hold / customs_released milestone said."""
    customs = (ctx.doc.get("customs") or {}).get("data") or ctx.shipment.get("customs") or {}
    state = customs.get("state")
    if state is not None:
        return str(state)
    side = ctx.state.side
    if side is not None and side.milestone is MilestoneType.CUSTOMS_HOLD:
        return "hold"
    if side is not None and side.milestone is MilestoneType.CUSTOMS_RELEASED:
        return "released"
    return None


def _countries(ctx: Context) -> tuple[str | None, str | None]:
    """The first pickup's and the last delivery's country."""
    origin = destination = None
    for stop in ctx.shipment.get("stops") or []:
        country = (stop.get("address") or {}).get("country")
        if stop.get("kind") == "pickup" and origin is None:
            origin = country
        elif stop.get("kind") == "delivery":
            destination = country
    return origin, destination


def _cross_border(ctx: Context) -> bool:
    """Picked up in one country and delivered in another (by the shipment's stops)."""
    origin, destination = _countries(ctx)
    return origin is not None and destination is not None and origin != destination


def _customs_required(ctx: Context) -> bool:
    return _customs_state(ctx) not in (None, "not_required")


def _charges(ctx: Context) -> list[dict[str, Any]]:
    return [c["data"] for c in (ctx.doc.get("charges") or {}).values()]


def _billed(ctx: Context) -> list[dict[str, Any]]:
    """The charges on the customer's invoice: duties and taxes only when the seller pays
    them (DDP) or the move is domestic (no incoterm); otherwise they are the consignee's."""
    incoterm = ctx.shipment.get("incoterm")
    duties_ours = incoterm in (None, "DDP")
    return [c for c in _charges(ctx) if duties_ours or c["kind"] not in ("duty", "tax")]


def _needs_rate(ctx: Context) -> bool:
    """A charge on either invoice (the customer's, or the consignee's duties) that no
    stored rate converts to the invoice currency."""
    currency = ctx.config.billing.currency
    foreign = [c for c in _charges(ctx) if c["amount"]["currency"] != currency]
    if not foreign:
        return False
    if ctx.convert is None:
        return True
    return any(
        ctx.convert(Decimal(c["amount"]["amount"]), c["amount"]["currency"], currency,
                    ctx.trigger.at) is None
        for c in foreign
    )  # fmt: skip


def _over_tolerance(ctx: Context) -> bool:
    """The trigger is a final freight charge above its quote by more than the tolerance."""
    if ctx.trigger.name != "charge.recorded":
        return False
    data = ctx.trigger.data
    if data.get("status") != "final" or data.get("kind") != "freight":
        return False
    quote = (ctx.flows.get("quotes") or {}).get(data["code"])
    if quote is None or quote["currency"] != data["amount"]["currency"]:
        return False
    billing = ctx.config.billing
    percent = billing.partner_tolerance_percent.get(ctx.trigger.partner, billing.tolerance_percent)
    quoted, final = Decimal(quote["amount"]), Decimal(data["amount"]["amount"])
    return final > quoted * (1 + Decimal(str(percent)) / 100)


def _from_tms(ctx: Context) -> bool:
    partner = ctx.partners.get(ctx.trigger.partner)
    return partner is not None and partner.kind == "tms"


CONDITIONS: dict[str, Callable[[Context], bool]] = {
    "delivered": lambda c: (
        c.state.main is not None and c.state.main.milestone is MilestoneType.DELIVERED
    ),
    "pod": lambda c: "pod" in c.doc,
    "customs_required": _customs_required,
    "customs_held": lambda c: _customs_state(c) == "hold",
    "customs_clear": lambda c: not _customs_required(c) or _customs_state(c) == "released",
    "customer_known": lambda c: any(
        p["role"] in ("customer", "bill_to") for p in c.shipment.get("parties", [])
    ),
    "billing_case_open": lambda c: bool(
        {"billing_dispute", "no_rate"} & set(c.flows.get("cases") or {})
    ),
    "charges_final": lambda c: (
        bool(_charges(c)) and all(ch["status"] == "final" for ch in _charges(c))
    ),
    "freight_over_tolerance": _over_tolerance,
    "hold_on_dispute": lambda c: c.config.billing.hold_on_dispute,
    "needs_rate": _needs_rate,
    "late_charge": lambda c: _late_charge(c) is not None,
    "tms_configured": lambda c: c.config.roles.tms is not None,
    "notify_configured": lambda c: c.config.roles.notify is not None,
    "from_tms": _from_tms,
    "cross_border": _cross_border,
    "exception_shown": lambda c: (
        c.state.current is not None
        and c.state.current.milestone in (MilestoneType.DELIVERY_FAILED, MilestoneType.EXCEPTION)
    ),
    "booked": lambda c: "booked_at" in c.flows,
    "service_level_known": lambda c: service_level(c) is not None,
    "invoice_disputed": lambda c: (
        c.trigger.name == "document.read" and c.trigger.data.get("disputed") is True
    ),
}


# -- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowCommand:
    """A command a transition emits: its CloudEvent type and data (or rendered bytes)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    render: Callable[[Connection], bytes] | None = None
    """Raw payload built in the write transaction (an X12 204 needs control numbers)."""


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def odoo_milestone(ctx: Context) -> FlowCommand | None:
    """The milestone on the Odoo order: its deliveries validated with the quantities a
    warehouse reported, tracking reference, note, activity."""
    data = {k: v for k, v in ctx.trigger.data.items()
            if k in ("milestone", "occurred_at", "reason", "tracking_number",
                     "quantities")}  # fmt: skip
    return FlowCommand(
        MILESTONE_COMMAND,
        data,
        {"assertedby": ctx.trigger.partner, "causationid": ctx.trigger.event_id[:1024]},
    )


def picking_details(ctx: Context) -> FlowCommand | None:
    """Carrier and tracking reference on the order's deliveries, when the shipment has them."""
    data: dict[str, Any] = {}
    carrier = next((p for p in ctx.shipment.get("parties", []) if p["role"] == "carrier"), None)
    if carrier is not None:
        data["carrier"] = carrier["name"]
    tracking = ctx.shipment.get("references", {}).get("carrier_tracking_numbers") or []
    if tracking:
        data["tracking_reference"] = tracking[0]
    return FlowCommand("intermodal.odoo.picking.update", data) if data else None


def dispatch_job(ctx: Context) -> FlowCommand | None:
    """The dispatch job for the TMS: the shipment as JSON (rest) or an X12 204 (x12)."""
    shipment = {"key": ctx.key, **ctx.shipment}
    if ctx.config.roles.tms_mode == "rest":
        return FlowCommand("intermodal.dispatch.requested", {"shipment": shipment})
    from intermodal.workflows.tender import render_204

    config = ctx.config.tender_x12
    tms = ctx.config.roles.tms or "tms"
    at = ctx.trigger.at
    return FlowCommand(
        "intermodal.dispatch.requested",
        render=lambda conn: render_204(conn, shipment, config, tms, at),
    )


def notify(ctx: Context) -> FlowCommand | None:
    """A customer notification: what happened, to which shipment, under which reference."""
    refs = ctx.shipment.get("references") or {}
    event = {"timer.sla": "sla.breach"}.get(ctx.trigger.name, ctx.trigger.name)
    data: dict[str, Any] = {"shipment": ctx.key, "event": event}
    if refs.get("customer_reference"):
        data["customer_reference"] = refs["customer_reference"]
    for name in ("milestone", "occurred_at", "reason", "tracking_number", "state", "due"):
        if name in ctx.trigger.data:
            data[name] = ctx.trigger.data[name]
    return FlowCommand("intermodal.notify", data)


def customs_filing(ctx: Context) -> FlowCommand | None:
    """The customs entry for the broker: the shipment, where from and to, its terms."""
    origin, destination = _countries(ctx)
    data: dict[str, Any] = {"shipment_key": ctx.key}
    if origin:
        data["origin_country"] = origin
    if destination:
        data["destination_country"] = destination
    if ctx.shipment.get("incoterm"):
        data["incoterm"] = ctx.shipment["incoterm"]
    return FlowCommand("intermodal.customs.filing", data)


def activity(ctx: Context) -> FlowCommand | None:
    """A to-do on the Odoo order for a case that has no milestone activity (SLA, billing,
    a broker's hold that came without its customs_hold milestone)."""
    label = ctx.trigger.name
    if _customs_state(ctx) == "hold" and ctx.trigger.name in ("customs.updated",
                                                              "shipment.changed"):  # fmt: skip
        customs = (ctx.doc.get("customs") or {}).get("data") or {}
        summary = f"Shipment {ctx.key}: held by customs"
        note = str(customs.get("reason") or "Held by customs.")
    elif ctx.trigger.name == "timer.sla":
        milestone = ctx.trigger.data.get("milestone", "?")
        summary = f"Shipment {ctx.key}: {milestone} is late (SLA)"
        note = f"Expected {milestone} by {ctx.trigger.data.get('due', '?')}."
    elif ctx.trigger.name == "document.read":
        number = ctx.trigger.data.get("invoice_number")
        summary = f"Shipment {ctx.key}: freight invoice {number or ''} differs from the quote"
        note = (
            f"{ctx.trigger.data.get('reason', 'The invoice does not match.')}"
            f" Document: {ctx.trigger.data.get('document_url', '')}"
        )
    elif ctx.trigger.name == "charge.recorded":
        amount = ctx.trigger.data["amount"]
        summary = f"Shipment {ctx.key}: freight invoice above the quote"
        note = f"Final {ctx.trigger.data['code']} {amount['amount']} {amount['currency']}."
    else:
        summary, note = f"Shipment {ctx.key}: {label}", label
    return FlowCommand(
        ACTIVITY_COMMAND,
        {"summary": summary[:256], "note": note, "deadline": ctx.trigger.at.date().isoformat()},
    )


def invoice(ctx: Context) -> FlowCommand | None:
    """The customer invoice: one line per billed charge, in the invoice currency."""
    parties = ctx.shipment.get("parties", [])
    customer = next((p for p in parties if p["role"] == "bill_to"), None) or next(
        (p for p in parties if p["role"] == "customer"), None
    )
    if customer is None:
        return None
    return _invoice(ctx, ctx.key, customer, _billed(ctx))


def duties_invoice(ctx: Context) -> FlowCommand | None:
    """The consignee's invoice for the duties and taxes the incoterm puts on it (anything
    but DDP on a cross-border move): the disbursements the forwarder advanced. Its
    reference is `<shipment>-DUTIES`; without a consignee there is nobody to bill."""
    if ctx.shipment.get("incoterm") in (None, "DDP"):
        return None
    consignee = next((p for p in ctx.shipment.get("parties", []) if p["role"] == "consignee"), None)
    duties = [c for c in _charges(ctx) if c["kind"] in ("duty", "tax")]
    if consignee is None or not duties:
        return None
    return _invoice(ctx, f"{ctx.key}-DUTIES", consignee, duties)


def _invoice(
    ctx: Context, reference: str, customer: dict[str, Any], charges: list[dict[str, Any]]
) -> FlowCommand | None:
    """An invoice of these charges to this party, converted to the invoice currency."""
    billing = ctx.config.billing
    lines = []
    for charge in sorted(charges, key=lambda c: c["code"]):
        amount = Decimal(charge["amount"]["amount"])
        if charge["amount"]["currency"] != billing.currency:
            converted = (
                ctx.convert(amount, charge["amount"]["currency"], billing.currency, ctx.trigger.at)
                if ctx.convert is not None
                else None
            )
            if converted is None:
                return None  # the flow's `needs_rate` transition holds the invoice instead
            amount = converted  # rounded to the invoice currency's minor units
        lines.append({**charge, "amount": {"amount": str(amount), "currency": billing.currency}})
    if not lines:
        return None
    refs = ctx.shipment.get("references") or {}
    data = {
        "reference": reference,
        "customer": customer,
        "currency": billing.currency,
        "charges": lines,
        "invoice_date": ctx.trigger.at.date().isoformat(),
        "origin": refs.get("odoo_sale_order") or ctx.key,
        "post": billing.post,
    }
    products = {c["code"]: p for c in lines if (p := _product(ctx, c)) is not None}
    if products:
        data["products"] = products
    return FlowCommand(INVOICE_COMMAND, data)


def _product(ctx: Context, charge: dict[str, Any]) -> str | None:
    """The Odoo product a charge's invoice line is: configured by charge code, else kind."""
    products = ctx.config.billing.products
    return products.get(charge["code"]) or products.get(charge["kind"])


# -- charges after the invoice ----------------------------------------------------------------
def _late_charge(ctx: Context) -> tuple[str, dict[str, Any]] | None:
    """A final charge that changes what an invoice already sent bills: (that invoice's
    reference, the adjustment line), or None. The customer's invoice, or the consignee's
    duties invoice for its duties and taxes; the line is the difference with what was
    billed for the charge's code (all of it for a new code), in the invoice currency."""
    billing = ctx.config.billing
    data = ctx.trigger.data
    if ctx.trigger.name != "charge.recorded" or billing.late_charges == "report":
        return None
    if data.get("status") != "final":
        return None
    duties = data["kind"] in ("duty", "tax") and ctx.shipment.get("incoterm") not in (None, "DDP")
    reference = f"{ctx.key}-DUTIES" if duties else ctx.key
    sent = (ctx.flows.get("billed") or {}).get(reference)
    if sent is None:
        return None  # not invoiced (yet): the charge will be on the invoice
    amount = Decimal(data["amount"]["amount"])
    if data["amount"]["currency"] != billing.currency:
        converted = (
            ctx.convert(amount, data["amount"]["currency"], billing.currency, ctx.trigger.at)
            if ctx.convert is not None
            else None
        )
        if converted is None:
            return None  # no rate: reconciliation reports it instead
        amount = converted
    before = Decimal(str((sent["charges"].get(data["code"]) or {}).get("amount", "0")))
    delta = amount - before
    if delta == 0:
        return None
    line: dict[str, Any] = {"code": data["code"], "kind": data["kind"], "amount": str(delta)}
    if data.get("description"):
        line["description"] = data["description"]
    if (product := _product(ctx, data)) is not None:
        line["product"] = product
    return reference, line


def invoice_adjustment(ctx: Context) -> FlowCommand | None:
    """The late charge billed on its invoice: added to it while it is a draft in Odoo,
    else a supplementary invoice (more) or a credit note (less), per
    workflows.billing.late_charges. Its reference is `<invoice>-ADJ<n>`."""
    found = _late_charge(ctx)
    if found is None:
        return None
    reference, line = found
    sent = ctx.flows["billed"][reference]
    billing = ctx.config.billing
    return FlowCommand(
        ADJUST_COMMAND,
        {
            "invoice": reference,
            "reference": f"{reference}-ADJ{int(sent.get('adjustments', 0)) + 1}",
            "customer": sent["customer"],
            "currency": billing.currency,
            "lines": [line],
            "invoice_date": ctx.trigger.at.date().isoformat(),
            "origin": sent["origin"],
            "post": billing.post,
            "separate": billing.late_charges == "separate",
        },
    )


def book_invoice(flows: dict[str, Any], data: dict[str, Any]) -> None:
    """Record what an invoice (or an adjustment) bills, per charge code: what a late
    charge is compared with (`flows.billed`, kept by the interpreter)."""
    billed: dict[str, Any] = flows.setdefault("billed", {})
    if "charges" in data:
        billed[data["reference"]] = {
            "customer": data["customer"],
            "origin": data["origin"],
            "adjustments": 0,
            "charges": {c["code"]: {"amount": c["amount"]["amount"], "kind": c["kind"]}
                        for c in data["charges"]},
        }  # fmt: skip
        return
    sent = billed.get(data["invoice"])
    if sent is None:
        return
    sent["adjustments"] = int(sent.get("adjustments", 0)) + 1
    for line in data["lines"]:
        before = Decimal(str((sent["charges"].get(line["code"]) or {}).get("amount", "0")))
        total = before + Decimal(line["amount"])
        sent["charges"][line["code"]] = {"amount": str(total), "kind": line["kind"]}


def case_feedback(kind: str, trigger: Trigger) -> str:
    """What the Odoo activity of a closed case says when marked done: who or what closed
    the case, and when (plain text; Odoo escapes it)."""
    at = trigger.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    label = kind.replace("_", " ")
    if trigger.name == "case.closed":
        who = str(trigger.data.get("closed_by") or "a person").removeprefix("tower:")
        text = f"The {label} case was closed in the control tower by {who} at {at}."
        note = trigger.data.get("note")
        return f"{text}\n{note}" if note else text
    what = trigger.name.removeprefix("milestone.").replace("_", " ")
    if trigger.name == "customs.updated":
        what = f"customs {trigger.data.get('state', 'update')}"
    return (
        f"Resolved: {what} reported by {trigger.partner} at {at} (the hub closed the {label} case)."
    )


COMMANDS: dict[str, Callable[[Context], FlowCommand | None]] = {
    "odoo_milestone": odoo_milestone,
    "picking_details": picking_details,
    "dispatch_job": dispatch_job,
    "notify": notify,
    "activity": activity,
    "invoice": invoice,
    "duties_invoice": duties_invoice,
    "invoice_adjustment": invoice_adjustment,
    "customs_filing": customs_filing,
}


# -- SLA timers -------------------------------------------------------------------------------
def sla_start(ctx: Context) -> datetime:
    """The SLA clock starts at the booking, or at the next midnight (UTC) after the cut-off.

    The booking's time is the first `booked` the flows saw (`flows.booked_at`): a service
    level learnt later (a shipment update after the booking) still counts from it."""
    level = service_level(ctx)
    booked = ctx.flows.get("booked_at")
    at = (datetime.fromisoformat(booked) if booked else ctx.trigger.at).astimezone(UTC)
    if level is not None and level.cutoff is not None:
        hour, minute = (int(p) for p in level.cutoff.split(":"))
        if at.time() > time(hour, minute):
            at = datetime.combine(at.date() + timedelta(days=1), time(0), UTC)
    return at


def service_level(ctx: Context) -> Any:
    name = ctx.shipment.get("service_level") or ctx.config.default_service_level
    return ctx.config.service_levels.get(name) if name else None


def sla_timers(ctx: Context) -> list[tuple[str, datetime, dict[str, Any]]]:
    """(timer name, due, payload) per milestone the service level expects and not reached."""
    level = service_level(ctx)
    if level is None:
        return []
    start = sla_start(ctx)
    out = []
    for milestone, seconds in level.expected.items():
        if _reached(ctx, MilestoneType(milestone)):
            continue
        due = start + timedelta(seconds=seconds)
        out.append((f"sla.{milestone}", due, {"milestone": str(milestone), "due": _iso(due)}))
    return out


def _reached(ctx: Context, milestone: MilestoneType) -> bool:
    state = ctx.state
    if milestone in _RANK:
        return state.main is not None and _RANK[state.main.milestone] >= _RANK[milestone]
    return any(m is not None and m.milestone is milestone for m in (state.side, state.terminal))


def sla_reached(ctx: Context) -> list[str]:
    """Names of pending SLA timers whose milestone has been reached (by rank, for the chain)."""
    timers = ctx.flows.get("timers") or {}
    return [
        name for name, timer in timers.items()
        if name.startswith("sla.") and _reached(ctx, MilestoneType(timer["payload"]["milestone"]))
    ]  # fmt: skip
