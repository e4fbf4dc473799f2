"""stock.picking <-> canonical: a shipment's delivery (state, carrier, tracking, dates).

Outbound, a shipment's pickings are the outgoing transfers of its sale order. Inbound, a
picking Odoo validates is the `dispatched` milestone (the goods left the warehouse) and a
cancelled one is `cancelled`.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from intermodal.canonical.model import Key, MilestoneType, ShortText
from intermodal.connectors.odoo.mappings.envelope import Envelope, odoo_datetime, parse_data
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import STAGE_FOLLOW_UPS, Call, Op, PickingsOf, Ref, Write

COMMAND_TYPE = "intermodal.odoo.picking.update"

# button_validate is refused on done or cancelled transfers: those have reached it.
VALIDATED = frozenset({"done", "cancel"})


class PickingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: ShortText | None = None
    """A delivery.carrier's name."""
    tracking_reference: Key | None = None
    scheduled_date: AwareDatetime | None = None
    date_deadline: AwareDatetime | None = None
    validate_transfer: bool = Field(default=False, alias="validate")


def validate_op(shipment_key: str) -> Call:
    return Call(
        PickingsOf(order_ref(shipment_key)),
        "button_validate",
        reached=VALIDATED,
        result_state="done",
        stage=STAGE_FOLLOW_UPS,
    )


def tracking_op(shipment_key: str, tracking_reference: str) -> Write:
    return Write(
        PickingsOf(order_ref(shipment_key)),
        {"carrier_tracking_ref": tracking_reference},
        stage=STAGE_FOLLOW_UPS,
    )


def build(envelope: Envelope, _policy: Any) -> list[Op]:
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
        ops.append(validate_op(envelope.subject))
    return ops


def picking_milestone(record: dict[str, Any]) -> MilestoneType | None:
    """The milestone an Odoo picking change asserts (inbound), if any."""
    state = record.get("state")
    if state == "done":
        return MilestoneType.DISPATCHED
    if state == "cancel":
        return MilestoneType.CANCELLED
    return None
