"""indexes the scrape-time business gauges need (data freshness, delivered-not-invoiced)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# A literal, not intermodal.outbox.kinds.INVOICE_COMMAND: a migration is frozen history.
_INVOICED = "kind = 'intermodal.odoo.invoice.create' AND status = 'delivered'"


def upgrade() -> None:
    # max(received_at) per partner is one index probe instead of a scan of the inbox.
    op.create_index("ix_inbox_partner_received", "inbox", ["partner", "received_at"])
    # Partial: only invoice commands Odoo has; every other outbox row costs nothing.
    op.create_index(
        "ix_outbox_invoiced_subject",
        "outbox",
        ["subject"],
        sqlite_where=sa.text(_INVOICED),
        postgresql_where=sa.text(_INVOICED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_invoiced_subject", "outbox")
    op.drop_index("ix_inbox_partner_received", "inbox")
