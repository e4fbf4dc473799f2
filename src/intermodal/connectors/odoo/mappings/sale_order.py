"""sale.order <-> canonical: order intake, keyed by `client_order_ref` = the shipment key.

Orders the hub creates carry the shipment key in `client_order_ref`; orders born in Odoo
are known to the hub by their own `name`. `order_ref` matches either, so milestones for
both kinds of shipment find their order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from intermodal.canonical.model import Key, Party, ShortText
from intermodal.connectors.odoo.mappings.envelope import Envelope, odoo_datetime, parse_data
from intermodal.connectors.odoo.mappings.res_partner import partner_ref, partner_upsert
from intermodal.connectors.odoo.ops import (
    STAGE_DOCUMENT_ACTIONS,
    STAGE_DOCUMENTS,
    Call,
    Op,
    Ref,
    Upsert,
)

COMMAND_TYPE = "intermodal.odoo.order.upsert"


def order_ref(shipment_key: str) -> Ref:
    return Ref("sale.order", "client_order_ref", shipment_key, alt_field="name")


def order_key(record: dict[str, Any]) -> str | None:
    """The shipment key of an Odoo order (inbound): the hub's reference, else its name."""
    for field in ("client_order_ref", "name"):
        value = record.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: Key
    """The product's internal reference (`default_code`)."""
    description: ShortText | None = None
    quantity: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)] = Decimal(1)
    price_unit: Annotated[Decimal, Field(max_digits=18, decimal_places=6)] | None = None


class OrderIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: Party
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]
    commitment_date: AwareDatetime | None = None
    carrier: ShortText | None = None
    """A delivery.carrier's name."""
    confirm: bool = True


def build(envelope: Envelope, _policy: Any) -> list[Op]:
    intake = parse_data(OrderIntake, envelope)
    lines = []
    for line in intake.lines:
        values: dict[str, Any] = {
            "product_id": Ref("product.product", "default_code", line.product),
            "product_uom_qty": float(line.quantity),
        }
        if line.description is not None:
            values["name"] = line.description
        if line.price_unit is not None:
            values["price_unit"] = float(line.price_unit)
        lines.append([0, 0, values])
    create: dict[str, Any] = {
        "partner_id": partner_ref(intake.customer),
        "order_line": lines,
    }
    if intake.carrier is not None:
        create["carrier_id"] = Ref("delivery.carrier", "name", intake.carrier)
    updates: dict[str, Any] = {}
    if intake.commitment_date is not None:
        updates["commitment_date"] = odoo_datetime(intake.commitment_date)
    ref = order_ref(envelope.subject)
    ops: list[Op] = []
    if intake.customer.odoo_partner_id is None:
        ops.append(partner_upsert(intake.customer))
    ops.append(Upsert(ref, updates, create, stage=STAGE_DOCUMENTS))
    if intake.confirm:
        ops.append(
            Call(
                ref,
                "action_confirm",
                reached=frozenset({"sale", "done", "cancel"}),
                result_state="sale",
                stage=STAGE_DOCUMENT_ACTIONS,
            )
        )
    return ops
