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
| `intermodal.odoo.activity.create`| `mail_activity` | a to-do on the order (SLA breach, dispute)|

Inbound (Odoo -> canonical) lives in `capture.py`, which uses `sale_order.order_key` and
`stock_picking.picking_milestone` from here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from intermodal.canonical.model import Key
from intermodal.connectors.odoo.ops import OdooMappingError, Op


class Envelope(BaseModel):
    """The parts of an outbox CloudEvent a mapping reads."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    subject: Key
    data: dict[str, Any]


_T = TypeVar("_T", bound=BaseModel)

Builder = Callable[[Envelope, Any], list[Op]]
BUILDERS: dict[str, Builder] = {}


def parse_data(model: type[_T], envelope: Envelope) -> _T:
    """Validate a command's data; a wrong shape is an OdooMappingError naming the fields."""
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise OdooMappingError(f"{envelope.type} data: {problems}") from None


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


def odoo_datetime(value: datetime) -> str:
    """Odoo's datetime wire format: UTC, 'YYYY-MM-DD HH:MM:SS' (ODOO-API.md section 6)."""
    return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))


def _register() -> None:
    from intermodal.connectors.odoo.mappings import (
        account_move,
        mail_activity,
        milestone,
        res_partner,
        sale_order,
        stock_picking,
    )

    BUILDERS[milestone.COMMAND_TYPE] = milestone.build
    BUILDERS[res_partner.COMMAND_TYPE] = res_partner.build
    BUILDERS[sale_order.COMMAND_TYPE] = sale_order.build
    BUILDERS[stock_picking.COMMAND_TYPE] = stock_picking.build
    BUILDERS[account_move.COMMAND_TYPE] = account_move.build
    BUILDERS[mail_activity.COMMAND_TYPE] = mail_activity.build


_register()
