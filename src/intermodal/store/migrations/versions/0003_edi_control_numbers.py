"""edi_control_numbers: outbound X12/EDIFACT control numbers per partner and kind

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edi_control_numbers",
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "kind", name=op.f("pk_edi_control_numbers")),
    )


def downgrade() -> None:
    op.drop_table("edi_control_numbers")
