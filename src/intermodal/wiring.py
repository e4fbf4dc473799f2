"""What the hub is assembled from: the table of endpoint kinds its dispatcher delivers to.

Each kind of `endpoints.<name>.kind` is one row: the sink that delivers to it and the
check of its options that `intermodal serve` runs before starting. The outbox defines its
own kinds (`webhook`, `edi`) and knows no connector; the connectors' kinds join them here,
where the hub is put together, instead of registering themselves when imported. Carriers
are a table of their own, `connectors/carriers/registry.py`, read by the `carrier` sink.
"""

from __future__ import annotations

from intermodal.connectors.carriers.registry import check_endpoint
from intermodal.connectors.carriers.sink import CarrierSink
from intermodal.connectors.nats.sink import NatsSink
from intermodal.connectors.nats.sink import parse_options as nats_options
from intermodal.connectors.odoo.sink import OdooSink
from intermodal.connectors.odoo.sink import parse_options as odoo_options
from intermodal.outbox.dispatcher import OUTBOX_SINK_KINDS
from intermodal.outbox.sinks import SinkKind, parse_check

SINK_KINDS: dict[str, SinkKind] = {
    **OUTBOX_SINK_KINDS,
    "odoo": SinkKind(OdooSink, parse_check(odoo_options)),
    "carrier": SinkKind(CarrierSink, check_endpoint),
    "nats": SinkKind(NatsSink, parse_check(nats_options)),
}
"""Endpoint kind -> its sink and option check: the hub's dispatcher and `intermodal serve`'s
configuration check read this one table."""

__all__ = ["SINK_KINDS"]
