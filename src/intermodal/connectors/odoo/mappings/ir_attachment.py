"""ir.attachment: a document attached to an Odoo record (a proof of delivery on the
shipment's delivery, a carrier's invoice on the customer invoice).

`intermodal.odoo.attachment.create`, data:

    {"model": "stock.picking",             # sale.order | stock.picking | account.move | res.partner
     "reference": "WH/OUT/00012",          # optional for sale.order and stock.picking
     "name": "POD-SHP-1.pdf",
     "mimetype": "application/pdf",        # optional: Odoo guesses it (name, then content)
     "content_base64": "JVBERi0xLj...",
     "description": "Signed by J. Doe"}    # optional

The record is named by the hub's references: a sale order by the shipment key (the
command's subject) or `reference`; a delivery by its name (`reference`), or, without one,
every outgoing delivery of the shipment's order; an invoice by its `ref`; a partner by its
`ref`. Odoo keeps the file and derives `checksum` (SHA-1), `file_size` and `mimetype`
(odoo/addons/base/models/ir_attachment.py); attaching needs write access on the record.
A record that already has a file of that name and content is left alone, so a replay,
or the same document sent twice, attaches it once.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from intermodal.canonical.model import Key, LongText
from intermodal.connectors.odoo.mappings.account_move import invoice_ref
from intermodal.connectors.odoo.mappings.envelope import Envelope, parse_data
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import Attach, OdooMappingError, Op, PickingsOf, Ref, Target

COMMAND_TYPE = "intermodal.odoo.attachment.create"
MAX_BYTES = 20 * 1024 * 1024
"""The largest file the hub attaches (Odoo's own request limit is 128 MiB; an outbox row
holding more than a few megabytes is a warning sign)."""
_MAX_ENCODED = MAX_BYTES * 4 // 3 * 78 // 76 + 4096  # base64 of MAX_BYTES, line breaks
_WHITESPACE = re.compile(rb"\s+")


class AttachmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["sale.order", "stock.picking", "account.move", "res.partner"]
    reference: Key | None = None
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f/\\]+$")
    ]
    """The file name Odoo shows: no path, no control characters."""
    mimetype: (
        Annotated[str, StringConstraints(max_length=128, pattern=r"^[\w.+-]+/[\w.+-]+$")] | None
    ) = None
    content_base64: Annotated[str, StringConstraints(min_length=1, max_length=_MAX_ENCODED)]
    description: LongText | None = None

    def content(self) -> bytes:
        """The file: strict base64 (line breaks allowed), not empty, at most MAX_BYTES."""
        try:
            raw = base64.b64decode(
                _WHITESPACE.sub(b"", self.content_base64.encode("ascii")), validate=True
            )
        except (binascii.Error, UnicodeEncodeError):
            raise OdooMappingError(
                f"{COMMAND_TYPE} data: content_base64: not valid base64"
            ) from None
        if not raw:
            raise OdooMappingError(f"{COMMAND_TYPE} data: content_base64: the file is empty")
        if len(raw) > MAX_BYTES:
            raise OdooMappingError(
                f"{COMMAND_TYPE} data: content_base64: {len(raw)} bytes, more than {MAX_BYTES}"
            )
        return raw


def attachment_data(
    model: str,
    name: str,
    content: bytes,
    reference: str | None = None,
    mimetype: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The `data` of an `intermodal.odoo.attachment.create` command, checked as the Odoo
    connector will check it (OdooMappingError naming the field): what another part of the
    hub puts in the outbox to attach a file (subject: the shipment key)."""
    data: dict[str, Any] = {
        "model": model,
        "name": name,
        "content_base64": base64.b64encode(content).decode("ascii"),
    }
    for field, value in (("reference", reference), ("mimetype", mimetype),
                         ("description", description)):  # fmt: skip
        if value is not None:
            data[field] = value
    try:
        request = AttachmentRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise OdooMappingError(f"{COMMAND_TYPE} data: {problems}") from None
    request.content()
    if model in ("account.move", "res.partner") and reference is None:
        raise OdooMappingError(f"{COMMAND_TYPE} data: reference: required for {model}")
    return data


def attachment_target(model: str, reference: str | None, subject: str) -> Target:
    """The record(s) a document goes to, named the way the hub names them."""
    if model == "sale.order":
        return order_ref(reference or subject)
    if model == "stock.picking":
        if reference is None:
            return PickingsOf(order_ref(subject))
        return Ref("stock.picking", "name", reference)
    if reference is None:
        raise OdooMappingError(f"{COMMAND_TYPE} data: reference: required for {model}")
    if model == "account.move":
        return invoice_ref(reference)
    return Ref("res.partner", "ref", reference)


def build(envelope: Envelope, _policy: Any) -> list[Op]:
    request = parse_data(AttachmentRequest, envelope)
    return [
        Attach(
            attachment_target(request.model, request.reference, envelope.subject),
            request.name,
            request.content(),
            request.mimetype,
            envelope.id,
            request.description,
        )
    ]


__all__ = [
    "COMMAND_TYPE",
    "MAX_BYTES",
    "AttachmentRequest",
    "attachment_data",
    "attachment_target",
    "build",
]
