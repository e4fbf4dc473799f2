"""odoo_capture_cursors: the Odoo write_date poller's position per partner and model

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "odoo_capture_cursors",
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("write_date", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("partner", "model", name=op.f("pk_odoo_capture_cursors")),
    )


def downgrade() -> None:
    op.drop_table("odoo_capture_cursors")
