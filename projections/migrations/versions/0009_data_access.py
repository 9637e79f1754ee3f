"""The data-access log (who was shown whose personal data) and the instant a user's
investor profile was submitted (the KYC queue's order).

Rows of rm_users written before this revision have no submission instant until the
users read model is rebuilt (`crowdfund projections rebuild`); the queue then falls back
to the registration instant for them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("viewer_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_access_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_access_log_subject_id"), ["subject_id"],
                              unique=False)
    with op.batch_alter_table("rm_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_submitted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rm_users", schema=None) as batch_op:
        batch_op.drop_column("profile_submitted_at")
    with op.batch_alter_table("data_access_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_access_log_subject_id"))
    op.drop_table("data_access_log")
