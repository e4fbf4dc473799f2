"""documents: each proof of delivery or freight invoice received, and its reading.

The file itself is an inbox row (channel `document`, raw bytes); this row says what it
is, whether it has been read, what was read and how sure the reading is.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("document_id", sa.String(40), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("receipt_id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(256), nullable=False),
        sa.Column("filename", sa.String(256), nullable=True),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), server_default="received", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("shipment_key", sa.String(128), nullable=True),
        sa.Column("read_at", sa.String(40), nullable=True),
        sa.Column("read_seconds", sa.Float(), nullable=True),
        sa.Column("result", sa.Text(), server_default="{}", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_documents"),
        sa.UniqueConstraint("document_id", name="uq_documents_document_id"),
        sa.UniqueConstraint("receipt_id", name="uq_documents_receipt_id"),
    )
    op.create_index("ix_documents_status_seq", "documents", ["status", "seq"])
    op.create_index("ix_documents_shipment_key", "documents", ["shipment_key"])


def downgrade() -> None:
    op.drop_index("ix_documents_shipment_key", "documents")
    op.drop_index("ix_documents_status_seq", "documents")
    op.drop_table("documents")
