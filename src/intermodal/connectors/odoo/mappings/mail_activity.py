"""mail.activity: a to-do on the order for the people who must act on an exception, and
marking it done when the hub's case for it closes.

`intermodal.odoo.activity.done` names the activities by the markers they carry (the ids of
the commands that created them) and calls `mail.activity.action_feedback(feedback=...)`
on those still open (addons/mail/models/mail_activity.py): Odoo posts the "done" message
with the feedback on the order and deletes the activity. A replay finds nothing open and
does nothing: an activity gone from Odoo is a done one.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intermodal.canonical.model import Key, LongText, MilestoneType
from intermodal.connectors.odoo.mappings.message_post import LABELS
from intermodal.connectors.odoo.mappings.sale_order import order_ref
from intermodal.connectors.odoo.ops import ActivitiesDone, Activity

if TYPE_CHECKING:
    from intermodal.connectors.odoo.mappings.envelope import Envelope
    from intermodal.connectors.odoo.ops import Op

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


# A to-do the flows open for a case that no milestone carries (an SLA breach,
# a billing dispute): `intermodal.odoo.activity.create` on the shipment's order.
COMMAND_TYPE = "intermodal.odoo.activity.create"


class ActivityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    note: Annotated[str, StringConstraints(max_length=4000)] = ""
    deadline: date


def build(envelope: Envelope, _policy: Any) -> list[Op]:
    from intermodal.connectors.odoo.mappings.envelope import parse_data

    request = parse_data(ActivityRequest, envelope)
    note = f"<p>{escape(request.note)}</p>" if request.note else ""
    return [
        Activity(
            order_ref(envelope.subject),
            request.summary,
            note,
            envelope.id,
            deadline=request.deadline.isoformat(),
        )
    ]


DONE_COMMAND_TYPE = "intermodal.odoo.activity.done"


class ActivitiesDoneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markers: Annotated[list[Key], Field(min_length=1, max_length=50)]
    """The ids of the commands whose activities to mark done."""
    feedback: LongText = ""
    """Plain text; Odoo shows it, line by line and escaped, in the "done" message."""


def build_done(envelope: Envelope, _policy: Any) -> list[Op]:
    from intermodal.connectors.odoo.mappings.envelope import parse_data

    request = parse_data(ActivitiesDoneRequest, envelope)
    return [
        ActivitiesDone(
            order_ref(envelope.subject),
            tuple(dict.fromkeys(request.markers)),
            request.feedback,
            envelope.id,
        )
    ]
