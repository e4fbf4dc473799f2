"""foresight: anomaly state, exception classifications and classifier trainings, and the
final kind a person gives a case when closing it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("final_kind", sa.String(32), nullable=True))
    op.create_table(
        "anomaly_state",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("detector", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("case_id", sa.String(80), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("since", sa.String(40), nullable=False),
        sa.Column("last_seen", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_anomaly_state"),
    )
    op.create_table(
        "case_classifications",
        sa.Column("case_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("cause", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("next_step", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("classified_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_classifications"),
    )
    op.create_table(
        "classifier_models",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("model_id", sa.String(40), nullable=False),
        sa.Column("trained_at", sa.String(40), nullable=False),
        sa.Column("trained_until", sa.String(40), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("holdout", sa.Integer(), nullable=False),
        sa.Column("model_accuracy", sa.Float(), nullable=False),
        sa.Column("rules_accuracy", sa.Float(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_classifier_models"),
        sa.UniqueConstraint("model_id", name="uq_classifier_models_model_id"),
    )


def downgrade() -> None:
    op.drop_table("classifier_models")
    op.drop_table("case_classifications")
    op.drop_table("anomaly_state")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("final_kind")
