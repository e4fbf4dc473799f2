"""Billing as the store records it: the delivered shipments Odoo has no invoice for yet.

One rule, read by the metrics gauges (observe/metrics.py), the control tower's overview
(dashboard/views.py) and reconciliation (workflows/reconcile/run.py):

A shipment is **delivered but not invoiced** when its current state is `delivered` (the
main chain reached delivered, and it was not returned or cancelled since) and no invoice
command for it (outbox kind `INVOICE_COMMAND`, subject = the shipment key) has been
delivered to Odoo.

Invoiced means the command was delivered, not that the billing flow reached its
`invoiced` state: the flow gets there when it writes the command, but Odoo has the invoice
only once the dispatcher has delivered it. A command still pending or retrying, or moved
to the dead letters, leaves the shipment not invoiced; retention never prunes a delivered
one (outbox/retention.py), so an old invoice still counts. Reconciliation then reports only
the shipments delivered longer than its grace period ago (`reconcile.grace_hours`): an
invoice is expected to follow the proof of delivery and the final charges, and a finding
should be worth a person's time. The gauge and the tower's tile count every one of them:
they show the backlog as it forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, and_, exists, literal_column, select

from intermodal.outbox.kinds import INVOICE_COMMAND
from intermodal.store.tables import outbox, shipments


def invoiced(subject: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether Odoo has the invoice of the shipment `subject` names (see the module's rule).

    Constants, not parameters: a planner uses the partial index ix_outbox_invoiced_subject
    only when it sees these values (PostgreSQL's generic plans for prepared statements
    would not).
    """
    return exists().where(
        and_(
            outbox.c.subject == subject,
            outbox.c.kind == literal_column(f"'{INVOICE_COMMAND}'"),
            outbox.c.status == literal_column("'delivered'"),
        )
    )


def delivered_not_invoiced(*columns: Any) -> Select[Any]:
    """The delivered shipments Odoo has no invoice for (see the module's rule), as a query
    of `columns` of the `shipments` table: callers add their own limit or order."""
    return select(*columns).where(shipments.c.state == "delivered", ~invoiced(shipments.c.key))


def charges_by_currency(documents: Iterable[str | bytes | None]) -> dict[str, Decimal]:
    """Every current charge of the shipments' documents (canonical Charge), summed per
    currency; a document or charge that is not what the hub writes is skipped."""
    totals: dict[str, Decimal] = {}
    for text in documents:
        try:
            charges = orjson.loads(text or b"{}").get("charges")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        for entry in charges.values() if isinstance(charges, dict) else ():
            try:
                money = entry["data"]["amount"]
                amount, currency = Decimal(str(money["amount"])), str(money["currency"])
            except (KeyError, TypeError, InvalidOperation):
                continue
            if amount.is_finite():
                totals[currency] = totals.get(currency, Decimal(0)) + amount
    return totals


__all__ = ["charges_by_currency", "delivered_not_invoiced", "invoiced"]
