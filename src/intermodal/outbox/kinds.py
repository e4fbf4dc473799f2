"""Outbox kinds that code other than their writer reads back, each written once here.

This module imports nothing, so the store's schema (a partial index), the flows, the
Odoo mapping, metrics, the control tower and reconciliation can all import it without
cycles. Migrations keep their own literals: they are frozen history.
"""

INVOICE_COMMAND = "intermodal.odoo.invoice.create"
"""The billing flow's invoice to Odoo (the customer's, and the consignee's duties invoice),
subject = the shipment key. Once delivered, Odoo has the invoice: that is what "invoiced"
means to billing (`workflows/billing.py`), and why retention never prunes one."""
