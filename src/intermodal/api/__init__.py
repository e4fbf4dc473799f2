"""The HTTP application: partner ingress, shipment reads, receipts, health, admin."""

from intermodal.api.app import create_app

__all__ = ["create_app"]
