"""partitioned apply: each inbox message carries the partition of its shipment, so
appliers on several processes and nodes apply disjoint partitions side by side; the
number of partitions the inbox was routed with is kept in `hub_meta`

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_PENDING = "status = 'pending'"
_UNROUTED = "status = 'pending' AND (partition IS NULL OR partition < 0)"


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("partition", sa.Integer(), nullable=True))
    op.create_index(
        "ix_inbox_pending_partition",
        "inbox",
        ["partition", "seq"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_index(
        "ix_inbox_unrouted",
        "inbox",
        ["seq"],
        sqlite_where=sa.text(_UNROUTED),
        postgresql_where=sa.text(_UNROUTED),
    )
    op.create_table(
        "hub_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hub_meta")),
    )


def downgrade() -> None:
    op.drop_table("hub_meta")
    op.drop_index("ix_inbox_unrouted", "inbox")
    op.drop_index("ix_inbox_pending_partition", "inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("partition")
