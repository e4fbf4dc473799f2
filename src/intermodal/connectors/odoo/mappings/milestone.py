"""`intermodal.shipment.milestone` (the applier's state-change command) -> Odoo.

A milestone becomes, on the shipment's sale order: a chatter note; an activity when it
needs a person (an exception); and on the order's deliveries `button_validate` for the
milestone that means the goods left (picked_up by default) and the tracking reference
when the carrier gave one. Which milestones do what is the endpoint's `MilestonePolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from intermodal.canonical.model import Key, LongText, MilestoneType
from intermodal.connectors.odoo.mappings.envelope import Envelope, parse_data
from intermodal.connectors.odoo.mappings.mail_activity import NEEDS_A_PERSON, exception_activity
from intermodal.connectors.odoo.mappings.message_post import milestone_note
from intermodal.connectors.odoo.mappings.stock_picking import tracking_op, validate_op
from intermodal.connectors.odoo.ops import Op

COMMAND_TYPE = "intermodal.shipment.milestone"


@dataclass(frozen=True)
class MilestonePolicy:
    notes: frozenset[MilestoneType] | None = None
    """Milestones noted on the order's chatter (None: all)."""
    activities: frozenset[MilestoneType] = NEEDS_A_PERSON
    validate: frozenset[MilestoneType] = frozenset({MilestoneType.PICKED_UP})


class MilestoneData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    milestone: MilestoneType
    occurred_at: AwareDatetime
    reason: LongText | None = None
    tracking_number: Key | None = None


def build(envelope: Envelope, policy: Any) -> list[Op]:
    rules = policy if isinstance(policy, MilestonePolicy) else MilestonePolicy()
    data = parse_data(MilestoneData, envelope)
    key, milestone = envelope.subject, data.milestone
    asserted_by = str((envelope.model_extra or {}).get("assertedby", "a partner"))
    ops: list[Op] = []
    if data.tracking_number is not None:
        ops.append(tracking_op(key, data.tracking_number))
    if milestone in rules.validate:
        ops.append(validate_op(key))
    if rules.notes is None or milestone in rules.notes:
        ops.append(
            milestone_note(key, milestone, data.occurred_at, asserted_by, envelope.id, data.reason)
        )
    if milestone in rules.activities:
        ops.append(exception_activity(key, milestone, data.occurred_at, envelope.id, data.reason))
    return ops
