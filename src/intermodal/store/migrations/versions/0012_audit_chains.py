"""audit chains: one hash chain per partition, so appliers of different partitions append
audit entries side by side instead of queueing on one lock. Each row gets its chain and
its position in it (chain_seq); existing rows become chain 0 with chain_seq = seq, which
keeps their hashes valid. seq stays the key but now comes from the database (a sequence
on PostgreSQL, the rowid on SQLite): "the newest seq + 1" would need the one lock again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("chain", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.execute("UPDATE audit SET chain_seq = seq")
    if op.get_bind().dialect.name == "sqlite":
        # Only an INTEGER primary key is an alias of the rowid, which numbers new rows; the
        # type change rebuilds the table (once, with the NOT NULL).
        with op.batch_alter_table("audit") as batch:
            batch.alter_column("chain_seq", existing_type=sa.BigInteger(), nullable=False)
            batch.alter_column("seq", existing_type=sa.BigInteger(), type_=sa.INTEGER())
    else:
        # What BIGSERIAL would have made, starting after the rows already there.
        op.alter_column("audit", "chain_seq", existing_type=sa.BigInteger(), nullable=False)
        op.execute("CREATE SEQUENCE audit_seq_seq AS BIGINT OWNED BY audit.seq")
        op.execute("SELECT setval('audit_seq_seq', COALESCE(MAX(seq), 0) + 1, false) FROM audit")
        op.execute("ALTER TABLE audit ALTER COLUMN seq SET DEFAULT nextval('audit_seq_seq')")
    op.create_index("ix_audit_chain_chain_seq", "audit", ["chain", "chain_seq"], unique=True)


def downgrade() -> None:
    """Back to one chain: possible only while every row is in chain 0. Its rows get
    seq = chain_seq again (PostgreSQL's sequence skips numbers that rolled back), which
    is what the single-chain verify expects."""
    bind = op.get_bind()
    others = bind.execute(sa.text("SELECT COUNT(*) FROM audit WHERE chain <> 0")).scalar()
    if others:
        raise RuntimeError(
            f"cannot downgrade below 0012: {others} audit row(s) are in chains other than 0,"
            " which the single chain cannot hold"
        )
    op.drop_index("ix_audit_chain_chain_seq", "audit")
    # Two steps: the primary key is checked row by row, and seq and chain_seq overlap.
    op.execute("UPDATE audit SET seq = -chain_seq")
    op.execute("UPDATE audit SET seq = -seq")
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("audit") as batch:
            batch.alter_column("seq", existing_type=sa.INTEGER(), type_=sa.BigInteger())
            batch.drop_column("chain_seq")
            batch.drop_column("chain")
    else:
        op.execute("ALTER TABLE audit ALTER COLUMN seq DROP DEFAULT")
        op.execute("DROP SEQUENCE audit_seq_seq")
        op.drop_column("audit", "chain_seq")
        op.drop_column("audit", "chain")
