"""`intermodal.shipment.milestone` (the applier's state-change command) -> Odoo.

A milestone becomes, on the shipment's sale order: a chatter note; an activity when it
needs a person (an exception); and on the order's deliveries, for the milestone that
means the goods left (picked_up by default), their validation with the quantities the
partner reported (a `Validate` op: Odoo's backorder question answered by the policy, the
result checked) and the tracking reference when the carrier gave one. Which milestones do
what, which partners may validate and what to answer about backorders is the endpoint's
`MilestonePolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from intermodal.canonical.model import Key, LongText, MilestoneType, PickedQuantity
from intermodal.connectors.odoo.mappings.envelope import Envelope, parse_data
from intermodal.connectors.odoo.mappings.mail_activity import NEEDS_A_PERSON, exception_activity
from intermodal.connectors.odoo.mappings.message_post import milestone_note
from intermodal.connectors.odoo.mappings.stock_picking import (
    picked_quantities,
    tracking_op,
    validate_op,
)
from intermodal.connectors.odoo.ops import BackorderPolicy, Op

COMMAND_TYPE = "intermodal.shipment.milestone"


@dataclass(frozen=True)
class MilestonePolicy:
    notes: frozenset[MilestoneType] | None = None
    """Milestones noted on the order's chatter (None: all)."""
    activities: frozenset[MilestoneType] = NEEDS_A_PERSON
    validate: frozenset[MilestoneType] = frozenset({MilestoneType.PICKED_UP})
    validate_from: frozenset[str] | None = None
    """Partners whose milestones validate the deliveries (None: any): the warehouse, when
    both it and the carrier report the pickup and only it knows what left."""
    backorder: BackorderPolicy = "create"
    """What to answer Odoo's backorder question when less left than was ordered."""
    backorder_by_partner: Mapping[str, BackorderPolicy] = field(default_factory=dict)
    """The same, per reporting partner (its name in the configuration)."""

    def backorder_for(self, partner: str) -> BackorderPolicy:
        return self.backorder_by_partner.get(partner, self.backorder)


class MilestoneData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    milestone: MilestoneType
    occurred_at: AwareDatetime
    reason: LongText | None = None
    tracking_number: Key | None = None
    quantities: Annotated[list[PickedQuantity], Field(max_length=500)] | None = None


def build(envelope: Envelope, policy: Any) -> list[Op]:
    rules = policy if isinstance(policy, MilestonePolicy) else MilestonePolicy()
    data = parse_data(MilestoneData, envelope)
    key, milestone = envelope.subject, data.milestone
    asserted_by = str((envelope.model_extra or {}).get("assertedby", "a partner"))
    ops: list[Op] = []
    if data.tracking_number is not None:
        ops.append(tracking_op(key, data.tracking_number))
    if milestone in rules.validate and (
        rules.validate_from is None or asserted_by in rules.validate_from
    ):
        ops.append(
            validate_op(
                key,
                envelope.id,
                picked_quantities(data.quantities),
                rules.backorder_for(asserted_by),
                asserted_by,
            )
        )
    if rules.notes is None or milestone in rules.notes:
        ops.append(
            milestone_note(key, milestone, data.occurred_at, asserted_by, envelope.id, data.reason)
        )
    if milestone in rules.activities:
        ops.append(exception_activity(key, milestone, data.occurred_at, envelope.id, data.reason))
    return ops
