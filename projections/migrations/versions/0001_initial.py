"""The read-model schema as `tables.create_all` made it before migrations existed.

A database created that way has these tables and no `alembic_version`:
`projections.schema.upgrade` recognises it and stamps it with this revision.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proj_tracking',
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('partitions', sa.Integer(), nullable=False),
    sa.Column('applied', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('partition')
    )
    op.create_table('relay_partitions',
    sa.Column('topic', sa.String(length=249), nullable=False),
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'partition')
    )
    op.create_table('relay_progress',
    sa.Column('topic', sa.String(length=249), nullable=False),
    sa.Column('partitions', sa.Integer(), nullable=False),
    sa.Column('published', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('topic')
    )
    op.create_table('rm_campaign_backers',
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('counted_pledges', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'backer_id')
    )
    op.create_table('rm_campaigns',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('founder_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('regime', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('min_target', sa.BigInteger(), nullable=False),
    sa.Column('max_target', sa.BigInteger(), nullable=False),
    sa.Column('min_pledge', sa.BigInteger(), nullable=False),
    sa.Column('price_per_share', sa.BigInteger(), nullable=False),
    sa.Column('deadline', sa.BigInteger(), nullable=False),
    sa.Column('launched_at', sa.BigInteger(), nullable=True),
    sa.Column('drafted_at', sa.BigInteger(), nullable=False),
    sa.Column('terms_version', sa.Integer(), nullable=False),
    sa.Column('reconfirm_by', sa.BigInteger(), nullable=True),
    sa.Column('held', sa.BigInteger(), nullable=False),
    sa.Column('released', sa.BigInteger(), nullable=False),
    sa.Column('refunded', sa.BigInteger(), nullable=False),
    sa.Column('backer_count', sa.Integer(), nullable=False),
    sa.Column('pledge_count', sa.Integer(), nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    op.create_index(op.f('ix_rm_campaigns_status'), 'rm_campaigns', ['status'], unique=False)
    op.create_table('rm_cap_tables',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('price_per_share', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id')
    )
    op.create_table('rm_commitments',
    sa.Column('pledge_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('regime', sa.String(length=8), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('pledge_id')
    )
    op.create_index('ix_rm_commitments_backer', 'rm_commitments', ['backer_id', 'regime', 'at'], unique=False)
    op.create_table('rm_distributions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('declared_at', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rm_distributions_campaign_id'), 'rm_distributions', ['campaign_id'], unique=False)
    op.create_table('rm_events',
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('stream_id', sa.String(length=64), nullable=False),
    sa.Column('stream_type', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('position'),
    sa.UniqueConstraint('stream_id', 'version', name='uq_rm_events_stream_version')
    )
    op.create_table('rm_holdings',
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('shares', sa.BigInteger(), nullable=False),
    sa.Column('amount_invested', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'backer_id')
    )
    op.create_table('rm_payouts',
    sa.Column('distribution_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('distribution_id', 'backer_id')
    )
    op.create_table('rm_pledges',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('backer_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('shares', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('pledged_at', sa.BigInteger(), nullable=False),
    sa.Column('cancellable_until', sa.BigInteger(), nullable=True),
    sa.Column('reconfirm_by', sa.BigInteger(), nullable=True),
    sa.Column('regime', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('terms_version', sa.Integer(), nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    op.create_index(op.f('ix_rm_pledges_backer_id'), 'rm_pledges', ['backer_id'], unique=False)
    op.create_index('ix_rm_pledges_campaign_seq', 'rm_pledges', ['campaign_id', 'seq'], unique=False)
    op.create_table('rm_updates',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('posted_at', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('material', sa.Boolean(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rm_updates_campaign_id'), 'rm_updates', ['campaign_id'], unique=False)
    op.create_table('rm_users',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('roles', sa.String(length=200), nullable=False),
    sa.Column('kyc_status', sa.String(length=16), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('accredited', sa.Boolean(), nullable=False),
    sa.Column('sophisticated', sa.Boolean(), nullable=False),
    sa.Column('knowledge_test_passed', sa.Boolean(), nullable=False),
    sa.Column('registered_at', sa.BigInteger(), nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rm_users_kyc_status'), 'rm_users', ['kyc_status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rm_users_kyc_status'), table_name='rm_users')
    op.drop_table('rm_users')
    op.drop_index(op.f('ix_rm_updates_campaign_id'), table_name='rm_updates')
    op.drop_table('rm_updates')
    op.drop_index('ix_rm_pledges_campaign_seq', table_name='rm_pledges')
    op.drop_index(op.f('ix_rm_pledges_backer_id'), table_name='rm_pledges')
    op.drop_table('rm_pledges')
    op.drop_table('rm_payouts')
    op.drop_table('rm_holdings')
    op.drop_table('rm_events')
    op.drop_index(op.f('ix_rm_distributions_campaign_id'), table_name='rm_distributions')
    op.drop_table('rm_distributions')
    op.drop_index('ix_rm_commitments_backer', table_name='rm_commitments')
    op.drop_table('rm_commitments')
    op.drop_table('rm_cap_tables')
    op.drop_index(op.f('ix_rm_campaigns_status'), table_name='rm_campaigns')
    op.drop_table('rm_campaigns')
    op.drop_table('rm_campaign_backers')
    op.drop_table('relay_progress')
    op.drop_table('relay_partitions')
    op.drop_table('proj_tracking')
