"""Milestone notes on the order's chatter (what `message_post` with `mail.mt_note` writes).

The writer creates the notes as `mail.message` rows with the note subtype, many in one
`create` call, instead of one `message_post` call per note (which is `ensure_one`): an
internal note notifies nobody, so nothing `message_post` would add is lost, and a
thousand milestones cost one call instead of a thousand.
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
