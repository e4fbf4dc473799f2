"""FreightLine: an LTL carrier with a form-encoded API (Basic auth, lb/in, faults at 200)."""

from intermodal.connectors.carriers.freightline.mappers.mapper import FreightLineConnector

__all__ = ["FreightLineConnector"]
