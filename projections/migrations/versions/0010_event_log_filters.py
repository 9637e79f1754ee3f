"""The event log's filters: indexes on the auditors' index of the log (`rm_events`) by
event type, by stream type (each with the position, so a filtered page is read in log
order) and by the instant an event occurred.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rm_events", schema=None) as batch_op:
        batch_op.create_index("ix_rm_events_type_position", ["type", "position"], unique=False)
        batch_op.create_index(
            "ix_rm_events_stream_type_position", ["stream_type", "position"], unique=False
        )
        batch_op.create_index("ix_rm_events_occurred_at", ["occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rm_events", schema=None) as batch_op:
        batch_op.drop_index("ix_rm_events_occurred_at")
        batch_op.drop_index("ix_rm_events_stream_type_position")
        batch_op.drop_index("ix_rm_events_type_position")
