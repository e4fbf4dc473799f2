"""tower sessions: server-side control tower sessions (revocable, idle and absolute
timeouts, logout everywhere) and the failed-login counts behind the lockout.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tower_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("user", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("credential", sa.String(64), nullable=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_seen_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name="pk_tower_sessions"),
    )
    op.create_index("ix_tower_sessions_user", "tower_sessions", ["user"])
    op.create_index("ix_tower_sessions_expires_at", "tower_sessions", ["expires_at"])
    op.create_table(
        "tower_login_failures",
        sa.Column("key", sa.String(96), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.String(40), nullable=False),
        sa.Column("locked_until", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_tower_login_failures"),
    )


def downgrade() -> None:
    op.drop_table("tower_login_failures")
    op.drop_index("ix_tower_sessions_expires_at", "tower_sessions")
    op.drop_index("ix_tower_sessions_user", "tower_sessions")
    op.drop_table("tower_sessions")
