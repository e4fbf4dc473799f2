"""Milestone notes on the order's chatter: `message_post` with the note subtype.

The writer posts them with `message_post(body=..., message_type="comment",
subtype_xmlid="mail.mt_note", body_is_html=True)` (addons/mail/models/mail_thread.py), not
as raw `mail.message` rows: Odoo then sets the author, notifies the partners who follow
notes on the order and the chatter of an open form. `message_post` takes one record, so
the notes one flush has for an order become one message, each note with its marker.
`body_is_html` matters: a plain string body is escaped (17+), and the note would show its
tags as text.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from intermodal.canonical.model import MilestoneType
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import Note

LABELS = {
    MilestoneType.BOOKED: "Booked",
    MilestoneType.DISPATCHED: "Dispatched",
    MilestoneType.PICKED_UP: "Picked up",
    MilestoneType.IN_TRANSIT: "In transit",
    MilestoneType.OUT_FOR_DELIVERY: "Out for delivery",
    MilestoneType.DELIVERED: "Delivered",
    MilestoneType.DELIVERY_FAILED: "Delivery failed",
    MilestoneType.EXCEPTION: "Exception",
    MilestoneType.CUSTOMS_HOLD: "Held by customs",
    MilestoneType.CUSTOMS_RELEASED: "Released by customs",
    MilestoneType.RETURNED: "Returned",
    MilestoneType.CANCELLED: "Cancelled",
}


def milestone_note(
    shipment_key: str,
    milestone: MilestoneType,
    occurred_at: datetime,
    asserted_by: str,
    marker: str,
    reason: str | None = None,
) -> Note:
    when = occurred_at.strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"<p>Shipment <b>{escape(shipment_key)}</b>: {LABELS[milestone]} at {when}"
        f" (reported by {escape(asserted_by)}).</p>"
    )
    if reason:
        body += f"<p>{escape(reason)}</p>"
    return Note(order_ref(shipment_key), body, marker)
