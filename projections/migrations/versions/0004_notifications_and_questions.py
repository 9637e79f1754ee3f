"""The notifier's tables (notices, what it keeps to address them, the mail outbox and
read marks) and the projections' public Q&A. New tables only: nothing to move.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 11:25:37.063194
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nt_backings',
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('pledge_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'pledge_id')
    )
    op.create_table('nt_campaigns',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('regime', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('founder_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('deadline', sa.BigInteger(), nullable=False),
    sa.Column('price_per_share', sa.BigInteger(), nullable=False),
    sa.Column('min_target', sa.BigInteger(), nullable=False),
    sa.Column('issuer_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('nt_issuers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('nt_cap_tables',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('nt_notifications',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=400), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=True),
    sa.Column('pledge_id', sa.String(length=64), nullable=True),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('nt_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nt_notifications_position'), ['position'], unique=False)
        batch_op.create_index('ix_nt_notifications_recipient', ['recipient_id', 'position'], unique=False)

    op.create_table('nt_outbox',
    sa.Column('notification_id', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('sent_at', sa.BigInteger(), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('notification_id')
    )
    with op.batch_alter_table('nt_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nt_outbox_next_attempt_at'), ['next_attempt_at'], unique=False)

    op.create_table('nt_pledges',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('shares', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('nt_questions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('asker_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('nt_reads',
    sa.Column('notification_id', sa.String(length=64), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('read_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('notification_id')
    )
    with op.batch_alter_table('nt_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nt_reads_recipient_id'), ['recipient_id'], unique=False)

    op.create_table('rm_questions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('asker_id', sa.String(length=64), nullable=False),
    sa.Column('by_founder', sa.Boolean(), nullable=False),
    sa.Column('asked_at', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answerer_id', sa.String(length=64), nullable=True),
    sa.Column('answered_at', sa.BigInteger(), nullable=True),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('hidden_reason', sa.Text(), nullable=True),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rm_questions', schema=None) as batch_op:
        batch_op.create_index('ix_rm_questions_campaign', ['campaign_id', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rm_questions', schema=None) as batch_op:
        batch_op.drop_index('ix_rm_questions_campaign')

    op.drop_table('rm_questions')
    with op.batch_alter_table('nt_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nt_reads_recipient_id'))

    op.drop_table('nt_reads')
    op.drop_table('nt_questions')
    op.drop_table('nt_pledges')
    with op.batch_alter_table('nt_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nt_outbox_next_attempt_at'))

    op.drop_table('nt_outbox')
    with op.batch_alter_table('nt_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_nt_notifications_recipient')
        batch_op.drop_index(batch_op.f('ix_nt_notifications_position'))

    op.drop_table('nt_notifications')
    op.drop_table('nt_cap_tables')
    op.drop_table('nt_issuers')
    op.drop_table('nt_campaigns')
    op.drop_table('nt_backings')
