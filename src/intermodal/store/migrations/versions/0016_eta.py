"""eta: arrival-time model versions, each active shipment's latest ETA, and how far the
ETAs were from the real arrivals.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "eta_models",
        sa.Column("version", _SEQ, autoincrement=True, nullable=False),
        sa.Column("trained_at", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("train_trips", sa.Integer(), server_default="0", nullable=False),
        sa.Column("held_out_trips", sa.Integer(), server_default="0", nullable=False),
        sa.Column("model_mae_min", sa.Float(), nullable=True),
        sa.Column("baseline_mae_min", sa.Float(), nullable=True),
        sa.Column("metrics", sa.Text(), server_default="{}", nullable=False),
        sa.Column("sklearn_version", sa.String(32), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=True),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_eta_models"),
    )
    op.create_index("ix_eta_models_status", "eta_models", ["status", "version"])
    op.create_table(
        "eta_predictions",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("computed_at", sa.String(40), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("model_version", sa.BigInteger(), nullable=True),
        sa.Column("eta", sa.String(40), nullable=True),
        sa.Column("eta_p10", sa.String(40), nullable=True),
        sa.Column("eta_p90", sa.String(40), nullable=True),
        sa.Column("deadline", sa.String(40), nullable=True),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.Column("published_eta", sa.String(40), nullable=True),
        sa.Column("published_at", sa.String(40), nullable=True),
        sa.Column("warning_case_id", sa.String(80), nullable=True),
        sa.Column("warning_streak", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_at", sa.String(40), nullable=True),
        sa.Column("first_method", sa.String(16), nullable=True),
        sa.Column("first_eta", sa.String(40), nullable=True),
        sa.Column("first_baseline_eta", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_eta_predictions"),
    )
    op.create_index("ix_eta_predictions_computed", "eta_predictions", ["computed_at"])
    op.create_table(
        "eta_outcomes",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("delivered_at", sa.String(40), nullable=False),
        sa.Column("first_at", sa.String(40), nullable=False),
        sa.Column("first_method", sa.String(16), nullable=True),
        sa.Column("first_eta", sa.String(40), nullable=False),
        sa.Column("first_baseline_eta", sa.String(40), nullable=True),
        sa.Column("error_min", sa.Float(), nullable=True),
        sa.Column("baseline_error_min", sa.Float(), nullable=True),
        sa.Column("last_error_min", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_eta_outcomes"),
    )
    op.create_index("ix_eta_outcomes_delivered", "eta_outcomes", ["delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_eta_outcomes_delivered", "eta_outcomes")
    op.drop_table("eta_outcomes")
    op.drop_index("ix_eta_predictions_computed", "eta_predictions")
    op.drop_table("eta_predictions")
    op.drop_index("ix_eta_models_status", "eta_models")
    op.drop_table("eta_models")
