"""The Odoo test server on both protocols (`protocol`, `sim`, `sink`, and `served`: one
server per protocol for a whole module): tests/odoo_fixtures.py."""

from __future__ import annotations

from tests.odoo_fixtures import PROTOCOLS, protocol, served, sim, sink

__all__ = ["PROTOCOLS", "protocol", "served", "sim", "sink"]
