"""The tamper-evident log's tables (`tables.log_metadata`): the Merkle tree, signed heads,
public keys, what was published. Databases that ran the log before this migration got
them from `create_all`: those are kept as they are.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("log_tree", "log_tree_nodes", "log_heads", "log_keys", "log_heads_published")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "log_tree" not in existing:
        op.create_table(
            "log_tree",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "log_tree_nodes" not in existing:
        op.create_table(
            "log_tree_nodes",
            sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
            sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
            sa.PrimaryKeyConstraint("level", "idx"),
        )
    if "log_heads" not in existing:
        op.create_table(
            "log_heads",
            sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("root_hash", sa.String(length=64), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.Column("signature", sa.String(length=128), nullable=False),
            sa.Column("key_id", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("size"),
        )
    if "log_keys" not in existing:
        op.create_table(
            "log_keys",
            sa.Column("key_id", sa.String(length=64), nullable=False),
            sa.Column("public_key_pem", sa.Text(), nullable=False),
            sa.Column("created_at", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("key_id"),
        )
    if "log_heads_published" not in existing:
        op.create_table(
            "log_heads_published",
            sa.Column("topic", sa.String(length=249), nullable=False),
            sa.Column("published", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("topic"),
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
