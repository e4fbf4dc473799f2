"""The canonical model: the one vocabulary every partner message is translated into.

`model` holds the business nouns (Shipment, Stop, Milestone, Charge, ...), `events` the
CloudEvents 1.0 envelope they travel in, and `schemas` writes their JSON Schemas to
`schemas/v1/` so partners can validate what they send without reading Python.
"""

from intermodal.canonical.events import (
    EVENT_TYPES,
    CanonicalEvent,
    EventType,
    parse_event,
    parse_events,
)
from intermodal.canonical.model import (
    MAIN_CHAIN,
    SIDE_STATES,
    TERMINAL_STATES,
    Address,
    Charge,
    ChargeKind,
    ChargeStatus,
    CustomsState,
    CustomsStatus,
    Incoterm,
    MilestoneEvent,
    MilestoneType,
    Money,
    Party,
    PartyRole,
    ProofOfDelivery,
    Shipment,
    ShipmentReferences,
    Stop,
    StopKind,
    TimeWindow,
)

__all__ = [
    "EVENT_TYPES",
    "MAIN_CHAIN",
    "SIDE_STATES",
    "TERMINAL_STATES",
    "Address",
    "CanonicalEvent",
    "Charge",
    "ChargeKind",
    "ChargeStatus",
    "CustomsState",
    "CustomsStatus",
    "EventType",
    "Incoterm",
    "MilestoneEvent",
    "MilestoneType",
    "Money",
    "Party",
    "PartyRole",
    "ProofOfDelivery",
    "Shipment",
    "ShipmentReferences",
    "Stop",
    "StopKind",
    "TimeWindow",
    "parse_event",
    "parse_events",
]
