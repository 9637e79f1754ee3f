"""Tracking per consumer group: `proj_tracking` becomes the `projections` rows of
`consumer_tracking`, watermarks kept (no rebuild, no replay).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_tracking",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "partition"),
    )
    op.execute(
        "INSERT INTO consumer_tracking (consumer, partition, partitions, applied) "
        "SELECT 'projections', partition, partitions, applied FROM proj_tracking"
    )
    op.drop_table("proj_tracking")


def downgrade() -> None:
    op.create_table(
        "proj_tracking",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partition"),
    )
    op.execute(
        "INSERT INTO proj_tracking (partition, partitions, applied) "
        "SELECT partition, partitions, applied FROM consumer_tracking "
        "WHERE consumer = 'projections'"
    )
    op.drop_table("consumer_tracking")
