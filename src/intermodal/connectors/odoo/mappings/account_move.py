"""account.move: the customer invoice for a shipment, one line per charge, keyed by `ref`.

An invoice, once created, is Odoo's: the hub never rewrites it (accountants may have
edited or posted it), so a replay only finds it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from intermodal.canonical.model import Charge, CurrencyCode, Key, Party
from intermodal.connectors.odoo.mappings.envelope import Envelope, parse_data
from intermodal.connectors.odoo.mappings.res_partner import partner_ref, partner_upsert
from intermodal.connectors.odoo.ops import (
    STAGE_DOCUMENT_ACTIONS,
    STAGE_DOCUMENTS,
    Call,
    OdooMappingError,
    Op,
    Ref,
    Upsert,
)
from intermodal.outbox.kinds import INVOICE_COMMAND

COMMAND_TYPE = INVOICE_COMMAND


class InvoiceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: Key
    customer: Party
    currency: CurrencyCode
    charges: Annotated[list[Charge], Field(min_length=1, max_length=500)]
    invoice_date: date | None = None
    origin: Key | None = None
    """The order the invoice is for (`invoice_origin`), e.g. the sale order's name."""
    post: bool = False


def invoice_ref(reference: str) -> Ref:
    return Ref("account.move", "ref", reference, domain=(("move_type", "=", "out_invoice"),))


def build(envelope: Envelope, _policy: Any) -> list[Op]:
    request = parse_data(InvoiceRequest, envelope)
    lines = []
    for charge in request.charges:
        if charge.amount.currency != request.currency:
            raise OdooMappingError(
                f"charge '{charge.code}' is in {charge.amount.currency}, "
                f"the invoice in {request.currency}"
            )
        lines.append(
            [
                0,
                0,
                {
                    "name": charge.description or f"{charge.kind.value}: {charge.code}",
                    "quantity": 1.0,
                    "price_unit": float(charge.amount.amount),
                },
            ]
        )
    create: dict[str, Any] = {
        "move_type": "out_invoice",
        "partner_id": partner_ref(request.customer),
        "currency_id": Ref("res.currency", "name", request.currency),
        "invoice_line_ids": lines,
        "invoice_origin": request.origin or envelope.subject,
    }
    if request.invoice_date is not None:
        create["invoice_date"] = request.invoice_date.isoformat()
    ref = invoice_ref(request.reference)
    ops: list[Op] = []
    if request.customer.odoo_partner_id is None:
        ops.append(partner_upsert(request.customer))
    ops.append(Upsert(ref, {}, create, stage=STAGE_DOCUMENTS))
    if request.post:
        ops.append(
            Call(
                ref,
                "action_post",
                reached=frozenset({"posted", "cancel"}),
                result_state="posted",
                stage=STAGE_DOCUMENT_ACTIONS,
            )
        )
    return ops
