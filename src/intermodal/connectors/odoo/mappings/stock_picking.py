"""stock.picking <-> canonical: a shipment's delivery (state, carrier, tracking, dates).

Outbound, a shipment's pickings are the outgoing transfers of its sale order: validating
them is a `Validate` op (the quantities a warehouse reported, Odoo's backorder question
answered by policy, the result checked: connectors/odoo/validation.py). An order of
services only has no delivery in Odoo (sale_stock `_action_launch_stock_rule` procures
goods only): there is nothing to validate or to write to, and nothing is waited for.

Inbound, a picking is keyed by its `sale_id` (the order's shipment key, read from the
order), never by its `origin` text: Odoo validating it is the `dispatched` milestone (the
goods left the warehouse) and cancelling it is `cancelled`, unless it is a backorder (the
rest of a partial delivery): a cancelled backorder leaves the shipment as it was.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from intermodal.canonical.model import Key, MilestoneType, ShortText
from intermodal.connectors.odoo.mappings.envelope import Envelope, odoo_datetime, parse_data
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import (
    STAGE_FOLLOW_UPS,
    BackorderPolicy,
    Op,
    PickingsOf,
    Ref,
    Validate,
    Write,
)

COMMAND_TYPE = "intermodal.odoo.picking.update"


class PickingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: ShortText | None = None
    """A delivery.carrier's name."""
    tracking_reference: Key | None = None
    scheduled_date: AwareDatetime | None = None
    date_deadline: AwareDatetime | None = None
    validate_transfer: bool = Field(default=False, alias="validate")


def validate_op(
    shipment_key: str,
    marker: str,
    quantities: dict[str, Decimal] | None = None,
    backorder: BackorderPolicy = "create",
    source: str = "a partner",
) -> Validate:
    return Validate(
        PickingsOf(order_ref(shipment_key)),
        tuple(sorted(quantities.items())) if quantities is not None else None,
        backorder,
        marker,
        source,
        stage=STAGE_FOLLOW_UPS,
    )


def tracking_op(shipment_key: str, tracking_reference: str) -> Write:
    return Write(
        PickingsOf(order_ref(shipment_key)),
        {"carrier_tracking_ref": tracking_reference},
        stage=STAGE_FOLLOW_UPS,
    )


def build(envelope: Envelope, policy: Any) -> list[Op]:
    update = parse_data(PickingUpdate, envelope)
    values: dict[str, Any] = {}
    if update.carrier is not None:
        values["carrier_id"] = Ref("delivery.carrier", "name", update.carrier)
    if update.tracking_reference is not None:
        values["carrier_tracking_ref"] = update.tracking_reference
    if update.scheduled_date is not None:
        values["scheduled_date"] = odoo_datetime(update.scheduled_date)
    if update.date_deadline is not None:
        values["date_deadline"] = odoo_datetime(update.date_deadline)
    ops: list[Op] = []
    if values:
        ops.append(Write(PickingsOf(order_ref(envelope.subject)), values))
    if update.validate_transfer:
        backorder: BackorderPolicy = getattr(policy, "backorder", "create")
        ops.append(validate_op(envelope.subject, envelope.id, backorder=backorder))
    return ops


def picking_milestone(record: dict[str, Any]) -> MilestoneType | None:
    """The milestone an Odoo picking change asserts (inbound), if any."""
    state = record.get("state")
    if state == "done":
        return MilestoneType.DISPATCHED
    if state == "cancel" and not record.get("backorder_id"):
        return MilestoneType.CANCELLED
    return None


def picked_quantities(values: Any) -> dict[str, Decimal] | None:
    """A milestone's `quantities` (canonical PickedQuantity list) as product -> quantity,
    the same product twice adding up; None when the milestone carries none."""
    if values is None:
        return None
    out: dict[str, Decimal] = {}
    for item in values:
        out[item.product] = out.get(item.product, Decimal(0)) + item.quantity
    return out
