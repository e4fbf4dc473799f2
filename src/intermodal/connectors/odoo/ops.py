"""What a command asks of Odoo, as data: the mappings produce these, the writer executes them.

An op names its Odoo record by the hub's reference (`Ref`), never by a database id the
hub would have to remember, so the same op means the same thing on every replay. Values
may hold `Ref`s too (a customer, a product, a currency); the writer resolves them all
with one `search_read` per model and reference field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from intermodal.errors import InvalidInput

# Stages run in this order inside one flush: what later ops point at exists by then.
STAGE_PARTNERS = 0
STAGE_DOCUMENTS = 1
STAGE_DOCUMENT_ACTIONS = 2
STAGE_FOLLOW_UPS = 3


@dataclass(frozen=True, slots=True)
class Ref:
    """An Odoo record named by `field == value` (or `alt_field == value`, e.g. an order named
    by the hub's `client_order_ref` or, when it was born in Odoo, by its own `name`)."""

    model: str
    field: str
    value: str | int
    alt_field: str | None = None
    domain: tuple[tuple[str, str, Any], ...] = ()

    @property
    def key(self) -> tuple[str, str, str | None, str | int]:
        return (self.model, self.field, self.alt_field, self.value)


@dataclass(frozen=True, slots=True)
class PickingsOf:
    """The outgoing transfers (deliveries) of a sale order: what a shipment moves."""

    order: Ref

    @property
    def key(self) -> tuple[str, str, str | None, str | int]:
        return ("stock.picking", "sale_id", None, str(self.order.key))


Target = Ref | PickingsOf


@dataclass(slots=True)
class Upsert:
    """Create the record named by `ref` unless it exists; `values` are written either way,
    `create_values` only on create (lines, the reference itself)."""

    ref: Ref
    values: dict[str, Any]
    create_values: dict[str, Any] = field(default_factory=dict)
    stage: int = STAGE_DOCUMENTS


@dataclass(slots=True)
class Write:
    target: Target
    values: dict[str, Any]
    stage: int = STAGE_FOLLOW_UPS


@dataclass(slots=True)
class Call:
    """A business method over the target's records (`action_confirm`, `button_validate`),
    skipped for records already in `reached` so a replay is a no-op, never an error."""

    target: Target
    method: str
    reached: frozenset[str]
    result_state: str
    stage: int = STAGE_FOLLOW_UPS


@dataclass(slots=True)
class Note:
    """An internal note on the record's chatter; `marker` makes it findable on a replay."""

    target: Ref
    body: str
    marker: str
    stage: int = STAGE_FOLLOW_UPS


@dataclass(slots=True)
class Activity:
    """A to-do on the record for a person (an exception to look at)."""

    target: Ref
    summary: str
    note: str
    marker: str
    deadline: str
    stage: int = STAGE_FOLLOW_UPS


@dataclass(slots=True)
class ActivitiesDone:
    """Mark done (`mail.activity.action_feedback`) the activities the hub opened on the
    record, found by their markers. Odoo deletes an activity once it is done (or archives
    it, for a type that keeps done activities), so one no longer found counts as done."""

    target: Ref
    markers: tuple[str, ...]
    feedback: str
    marker: str
    stage: int = STAGE_FOLLOW_UPS


@dataclass(slots=True)
class Attach:
    """A file attached to the target's records (`ir.attachment`), once: a record that
    already has a file of that name and content (its SHA-1 `checksum`) is left alone."""

    target: Target
    name: str
    content: bytes
    mimetype: str | None
    marker: str
    description: str | None = None
    stage: int = STAGE_FOLLOW_UPS


@dataclass(slots=True)
class AdjustInvoice:
    """Bill a change to an invoice already sent: lines added to it while it is a draft,
    else a separate document, a supplementary invoice for more or a credit note for less.
    `reference` names that document and marks the lines added, so a replay finds it."""

    invoice: Ref
    reference: str
    lines: list[dict[str, Any]]
    """Invoice lines with signed amounts (`price_unit`), values Odoo takes (Refs allowed)."""
    create_values: dict[str, Any]
    """partner_id, currency_id, invoice_origin, invoice_date of a separate document."""
    separate: bool = False
    """A separate document even while the invoice is a draft."""
    post: bool = False
    stage: int = STAGE_DOCUMENTS


BackorderPolicy = Literal["create", "cancel"]
"""What the hub answers Odoo's "Create Backorder?" wizard: `create` a backorder for what
was not picked (`process`), or `cancel` the rest (`process_cancel_backorder`)."""


@dataclass(slots=True)
class Validate:
    """Validate an order's open deliveries with what a warehouse reported, and check that
    Odoo did (connectors/odoo/validation.py). `quantities` per product internal reference
    (None: the partner said nothing, Odoo's reserved quantities stand); `marker` (the
    command id) is noted on each delivery it validates, so a replay finds them."""

    target: PickingsOf
    quantities: tuple[tuple[str, Decimal], ...] | None
    backorder: BackorderPolicy
    marker: str
    source: str = "a partner"
    """Who reported it, for the note on the delivery."""
    stage: int = STAGE_FOLLOW_UPS


Op = Upsert | Write | Call | Note | Activity | ActivitiesDone | Attach | AdjustInvoice | Validate


class OdooMappingError(InvalidInput, ValueError):
    """A command that cannot become Odoo ops (wrong shape, unknown type): never retried."""


def op_record_key(op: Op) -> tuple[Any, ...]:
    """The Odoo record an op changes: two ops on one record are never reordered."""
    if isinstance(op, Upsert):
        return op.ref.key
    if isinstance(op, Write | Call | Validate):
        return op.target.key
    if isinstance(op, AdjustInvoice):
        return op.invoice.key  # one change to an invoice at a time, in order
    return (type(op).__name__, op.marker)
