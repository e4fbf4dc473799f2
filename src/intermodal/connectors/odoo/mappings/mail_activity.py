"""mail.activity: a to-do on the order for the people who must act on an exception."""

from __future__ import annotations

from datetime import datetime
from html import escape

from intermodal.canonical.model import MilestoneType
from intermodal.connectors.odoo.mappings.message_post import LABELS
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import Activity

# Milestones that need a person: the default of `options.activity_milestones`.
NEEDS_A_PERSON = frozenset(
    {
        MilestoneType.EXCEPTION,
        MilestoneType.DELIVERY_FAILED,
        MilestoneType.CUSTOMS_HOLD,
        MilestoneType.RETURNED,
    }
)


def exception_activity(
    shipment_key: str,
    milestone: MilestoneType,
    occurred_at: datetime,
    marker: str,
    reason: str | None = None,
) -> Activity:
    summary = f"Shipment {shipment_key}: {LABELS[milestone].lower()}"[:256]
    note = f"<p>{LABELS[milestone]} reported at {occurred_at.strftime('%Y-%m-%d %H:%M UTC')}.</p>"
    if reason:
        note += f"<p>{escape(reason)}</p>"
    return Activity(
        order_ref(shipment_key),
        summary,
        note,
        marker,
        deadline=occurred_at.strftime("%Y-%m-%d"),
    )
