"""delivery on several nodes: dead letters found by (endpoint, subject), which they hold;
breakers and rate limits shared per endpoint

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dead_letters_endpoint_subject", "dead_letters", ["endpoint", "subject"])
    op.create_table(
        "endpoint_state",
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("opened_at", sa.Float()),
        sa.Column("tokens", sa.Float(), nullable=False, server_default="0"),
        sa.Column("tokens_at", sa.Float(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("endpoint", name="pk_endpoint_state"),
    )


def downgrade() -> None:
    op.drop_table("endpoint_state")
    op.drop_index("ix_dead_letters_endpoint_subject", "dead_letters")
