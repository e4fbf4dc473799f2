"""master_data and currency_rates: what the batch sync copies from Odoo

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 04:10:00

There is no 0006: it was reserved for the workflows, written at the same time, which
turned out to need no table. Databases record 0007 in alembic_version, so this revision
keeps its number (renaming it would strand them); see ../README.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
# 0006 was reserved for the workflows, which keep their state in the shipment document
# and needed no table: the chain goes 0005 -> 0007 -> 0008.
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "master_data",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("odoo_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("write_date", sa.String(length=32), nullable=False),
        sa.Column("synced_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("kind", "odoo_id", name=op.f("pk_master_data")),
    )
    op.create_index("ix_master_data_kind_key", "master_data", ["kind", "key"])
    op.create_table(
        "currency_rates",
        sa.Column("odoo_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("write_date", sa.String(length=32), nullable=False),
        sa.Column("synced_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("odoo_id", name=op.f("pk_currency_rates")),
    )
    op.create_index("ix_currency_rates_lookup", "currency_rates", ["currency", "company_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_currency_rates_lookup", table_name="currency_rates")
    op.drop_table("currency_rates")
    op.drop_index("ix_master_data_kind_key", table_name="master_data")
    op.drop_table("master_data")
