"""positions: the latest fix and a thinned track per shipment, and which vehicle carries
which shipment (foresight/positions.py).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "positions_latest",
        sa.Column("shipment_key", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("vehicle_id", sa.String(128), nullable=True),
        sa.Column("partner", sa.String(64), nullable=True),
        sa.Column("suspect", sa.Text(), nullable=True),
        sa.Column("tail", sa.Text(), nullable=True),
        sa.Column("track_points", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("counts", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("last_rejection", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("shipment_key", name="pk_positions_latest"),
    )
    op.create_table(
        "positions_track",
        sa.Column("shipment_key", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("shipment_key", "recorded_at", name="pk_positions_track"),
    )
    op.create_table(
        "vehicle_assignments",
        sa.Column("vehicle_id", sa.String(128), nullable=False),
        sa.Column("assigned_at", sa.String(40), nullable=False),
        sa.Column("shipment_key", sa.String(128), nullable=False),
        sa.Column("until", sa.String(40), nullable=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id", "assigned_at", name="pk_vehicle_assignments"),
    )
    op.create_index("ix_vehicle_assignments_shipment_key", "vehicle_assignments", ["shipment_key"])


def downgrade() -> None:
    op.drop_index("ix_vehicle_assignments_shipment_key", "vehicle_assignments")
    op.drop_table("vehicle_assignments")
    op.drop_table("positions_track")
    op.drop_table("positions_latest")
