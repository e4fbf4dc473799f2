"""The Odoo test server on both protocols (`protocol`, `sim`, `sink`): tests/odoo_fixtures.py."""

from __future__ import annotations

from tests.odoo_fixtures import protocol, sim, sink

__all__ = ["protocol", "sim", "sink"]
