"""A proof of delivery goes to Odoo even when the hub does not know the picking's name
(the shipments Odoo's order capture makes carry only the order's): the command then names
no picking, and the Odoo connector attaches the file to the order's outgoing deliveries."""

from __future__ import annotations

import base64

import orjson

from intermodal.connectors.odoo.mappings import ir_attachment
from intermodal.connectors.odoo.mappings.envelope import Envelope
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import Attach, PickingsOf, Ref
from intermodal.foresight.documents_reader import pod_attachment_command

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _attach(picking: str | None) -> tuple[dict[str, object], Attach]:
    command = pod_attachment_command(
        "odoo", "DEMO-0002", picking, "pod-DEMO-0002.pdf", "application/pdf", PDF,
        "doc_1", "corr_1", "2026-12-05T01:22:00.000000Z",
    )  # fmt: skip
    envelope = Envelope.model_validate(orjson.loads(command.payload))
    (op,) = ir_attachment.build(envelope, None)
    assert isinstance(op, Attach)
    return envelope.data, op


def test_without_the_pickings_name_the_orders_deliveries_get_the_file() -> None:
    data, op = _attach(None)
    assert "reference" not in data
    assert base64.b64decode(str(data["content_base64"])) == PDF
    assert op.target == PickingsOf(order_ref("DEMO-0002"))


def test_with_it_that_picking_does() -> None:
    data, op = _attach("WH/OUT/00012")
    assert data["reference"] == "WH/OUT/00012"
    assert op.target == Ref("stock.picking", "name", "WH/OUT/00012")
