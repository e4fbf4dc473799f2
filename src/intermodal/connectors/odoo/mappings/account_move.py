"""account.move: the customer invoice for a shipment, one line per charge, keyed by `ref`;
and the changes billed after it (a final charge that came late).

An invoice, once created, is Odoo's: the hub never rewrites it (accountants may have
edited or posted it), so a replay only finds it.

A line carries the charge's product when the billing configuration names one
(`products`: charge code, or kind, -> the product's internal reference): Odoo then books
it to the product's income account and applies the product's taxes, both mapped through
the invoice's fiscal position, which Odoo takes from the customer
(addons/account/models/account_move_line.py `_compute_account_id`, `_compute_tax_ids`).
A line without a product gets the journal's default account and no taxes.

`intermodal.odoo.invoice.adjust` bills a change to an invoice already sent: its lines
(signed amounts) are added to the invoice while it is a draft, or make a separate
document once it is posted (Odoo refuses new lines on a posted move: "You cannot modify
the following readonly fields on a posted move"), a supplementary invoice for a net
increase or a credit note reversing the invoice for a net decrease. See
`writer.Writer._adjust_invoice`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intermodal.canonical.model import (
    Charge,
    ChargeKind,
    CurrencyCode,
    Key,
    Party,
    ShortText,
)
from intermodal.connectors.odoo.mappings.envelope import Envelope, parse_data
from intermodal.connectors.odoo.mappings.res_partner import partner_ref, partner_upsert
from intermodal.connectors.odoo.ops import (
    STAGE_DOCUMENT_ACTIONS,
    STAGE_DOCUMENTS,
    AdjustInvoice,
    Call,
    OdooMappingError,
    Op,
    Ref,
    Upsert,
)
from intermodal.outbox.kinds import INVOICE_COMMAND

COMMAND_TYPE = INVOICE_COMMAND
ADJUST_COMMAND_TYPE = "intermodal.odoo.invoice.adjust"


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
    products: Annotated[dict[Key, Key], Field(max_length=500)] = {}
    """Charge code -> the internal reference (`default_code`) of the product its line is."""


def invoice_ref(reference: str) -> Ref:
    return Ref("account.move", "ref", reference, domain=(("move_type", "=", "out_invoice"),))


def product_ref(code: str) -> Ref:
    return Ref("product.product", "default_code", code)


def charge_label(charge: Charge) -> str:
    return charge.description or f"{charge.kind.value}: {charge.code}"


def build(envelope: Envelope, _policy: Any) -> list[Op]:
    request = parse_data(InvoiceRequest, envelope)
    lines = []
    for charge in request.charges:
        if charge.amount.currency != request.currency:
            raise OdooMappingError(
                f"charge '{charge.code}' is in {charge.amount.currency}, "
                f"the invoice in {request.currency}"
            )
        line: dict[str, Any] = {
            "name": charge_label(charge),
            "quantity": 1.0,
            "price_unit": float(charge.amount.amount),
        }
        product = request.products.get(charge.code)
        if product is not None:
            line["product_id"] = product_ref(product)
        lines.append([0, 0, line])
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


class AdjustmentLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Key
    kind: ChargeKind
    description: ShortText | None = None
    amount: Annotated[Decimal, Field(max_digits=18, decimal_places=6, allow_inf_nan=False)]
    """What the charge adds to (positive) or takes off (negative) the amount invoiced."""
    product: Key | None = None

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("an adjustment line changes the amount: it cannot be zero")
        return value


class AdjustmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice: Key
    """The reference (`ref`) of the invoice being adjusted."""
    reference: Key
    """This adjustment's own reference: the separate document's `ref`, and the mark on the
    lines added to a draft."""
    customer: Party
    currency: CurrencyCode
    lines: Annotated[list[AdjustmentLine], Field(min_length=1, max_length=500)]
    invoice_date: date | None = None
    origin: Key | None = None
    post: bool = False
    """Post the supplementary invoice or credit note (lines added to a draft stay draft)."""
    separate: bool = False
    """A separate document even while the invoice is still a draft."""


def build_adjustment(envelope: Envelope, _policy: Any) -> list[Op]:
    request = parse_data(AdjustmentRequest, envelope)
    if request.invoice == request.reference:
        raise OdooMappingError("the adjustment's reference must differ from the invoice's")
    lines = []
    for line in request.lines:
        label = line.description or f"{line.kind.value}: {line.code}"
        values: dict[str, Any] = {
            "name": f"{label} [{request.reference}]",
            "quantity": 1.0,
            "price_unit": float(line.amount),
        }
        if line.product is not None:
            values["product_id"] = product_ref(line.product)
        lines.append(values)
    create: dict[str, Any] = {
        "partner_id": partner_ref(request.customer),
        "currency_id": Ref("res.currency", "name", request.currency),
        "invoice_origin": request.origin or envelope.subject,
    }
    if request.invoice_date is not None:
        create["invoice_date"] = request.invoice_date.isoformat()
    ops: list[Op] = []
    if request.customer.odoo_partner_id is None:
        ops.append(partner_upsert(request.customer))
    ops.append(
        AdjustInvoice(
            invoice_ref(request.invoice),
            request.reference,
            lines,
            create,
            separate=request.separate,
            post=request.post,
        )
    )
    return ops
