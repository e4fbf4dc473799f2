"""Reconciliation: what the hub knows against what was invoiced and charged, per category.

- **delivered_not_invoiced**: delivered longer than the grace period ago, and no customer
  invoice command delivered to Odoo for it (outbox kind `intermodal.odoo.invoice.create`).
- **invoiced_without_pod**: an invoice command exists, but no proof of delivery.
- **freight_disputes**: a carrier's final charge above the provisional one for the same code
  by more than the partner's tolerance.
- **provisional_not_finalised**: charges still provisional days after delivery.

`checks.reconcile` decides from facts (pure), `run.run_reconciliation` loads the facts from
the store and records a `reconciliation_runs` row, `report` writes JSON and CSV.
"""
