"""Reconciliation: what the hub knows against what was invoiced and charged, per category.

- **delivered_not_invoiced**: delivered and not invoiced by the one rule the metrics and
  the control tower share (`workflows/billing.py`: no invoice command delivered to Odoo
  for it), and delivered longer than the grace period ago.
- **invoiced_without_pod**: an invoice command exists, but no proof of delivery.
- **freight_disputes**: a carrier's final charge above the provisional one for the same code
  by more than the partner's tolerance.
- **provisional_not_finalised**: charges still provisional days after delivery.

`checks.reconcile` decides from facts (pure), `run.run_reconciliation` loads the facts from
the store and records a `reconciliation_runs` row, `report` writes JSON and CSV.
"""
