"""cases (exceptions and SLA breaches) and reconciliation_runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("seq", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("opened_at", sa.String(length=40), nullable=False),
        sa.Column("closed_at", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cases")),
        sa.UniqueConstraint("case_id", name=op.f("uq_cases_case_id")),
    )
    op.create_index("ix_cases_status_opened", "cases", ["status", "opened_at"])
    op.create_index("ix_cases_subject", "cases", ["subject"])
    op.create_table(
        "reconciliation_runs",
        sa.Column("seq", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=False),
        sa.Column("finished_at", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("figures", sa.Text(), server_default="{}", nullable=False),
        sa.Column("report", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_reconciliation_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_reconciliation_runs_run_id")),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_runs")
    op.drop_index("ix_cases_subject", table_name="cases")
    op.drop_index("ix_cases_status_opened", table_name="cases")
    op.drop_table("cases")
