"""Canonical <-> Odoo mappings: one module per Odoo model, pure functions, no I/O.

Outbound, `ops_for(command)` turns an outbox command (a CloudEvent) into the `Op`s the
writer executes; each command type has one builder, registered in `BUILDERS`:

| command type                     | module          | Odoo                                      |
|----------------------------------|-----------------|-------------------------------------------|
| `intermodal.shipment.milestone`  | `milestone`     | stock.picking state, note, activity       |
| `intermodal.odoo.partner.upsert` | `res_partner`   | res.partner (customer or carrier)         |
| `intermodal.odoo.order.upsert`   | `sale_order`    | sale.order (+ lines, confirm)             |
| `intermodal.odoo.picking.update` | `stock_picking` | carrier, tracking reference, dates        |
| `intermodal.odoo.invoice.create` | `account_move`  | customer invoice, one line per charge     |
| `intermodal.odoo.invoice.adjust` | `account_move`  | a late change: draft lines, supplementary |
|                                  |                 | invoice or credit note                    |
| `intermodal.odoo.activity.create`| `mail_activity` | a to-do on the order (SLA breach, dispute)|
| `intermodal.odoo.activity.done`  | `mail_activity` | its case closed: action_feedback          |
| `intermodal.odoo.attachment.create` | `ir_attachment` | a document on a record (POD, invoice) |

Inbound (Odoo -> canonical) lives in `ingress/odoo_capture.py`, which uses
`sale_order.order_key` and `stock_picking.picking_milestone` from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from intermodal.connectors.odoo.mappings import (
    account_move,
    ir_attachment,
    mail_activity,
    milestone,
    res_partner,
    sale_order,
    stock_picking,
)
from intermodal.connectors.odoo.mappings.envelope import Envelope
from intermodal.connectors.odoo.ops import OdooMappingError, Op

Builder = Callable[[Envelope, Any], list[Op]]
BUILDERS: dict[str, Builder] = {
    milestone.COMMAND_TYPE: milestone.build,
    res_partner.COMMAND_TYPE: res_partner.build,
    sale_order.COMMAND_TYPE: sale_order.build,
    stock_picking.COMMAND_TYPE: stock_picking.build,
    account_move.COMMAND_TYPE: account_move.build,
    mail_activity.COMMAND_TYPE: mail_activity.build,
    account_move.ADJUST_COMMAND_TYPE: account_move.build_adjustment,
    mail_activity.DONE_COMMAND_TYPE: mail_activity.build_done,
    ir_attachment.COMMAND_TYPE: ir_attachment.build,
}


def ops_for(payload: bytes, policy: Any) -> list[Op]:
    """The ops of one command; OdooMappingError when it is not something Odoo can take."""
    try:
        envelope = Envelope.model_validate(orjson.loads(payload))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise OdooMappingError(f"not a CloudEvent the Odoo connector understands: {exc}") from None
    builder = BUILDERS.get(envelope.type)
    if builder is None:
        known = ", ".join(sorted(BUILDERS))
        raise OdooMappingError(
            f"command type '{envelope.type}' has no Odoo mapping (known: {known})"
        )
    return builder(envelope, policy)
