"""push subscriptions: the browsers that get Web Push for a user

Revision ID: f1b4d6a8c2e3
Revises: e5a7c3b9d1f2
Create Date: 2026-11-29 15:30:00

One table. A subscription is tied to the login session that made it (token id,
when it was issued, when it expires): pushes go only to subscriptions of sessions
still valid, and logging out deletes that session's subscriptions.
"""
from alembic import op
import sqlalchemy as sa


revision = 'f1b4d6a8c2e3'
down_revision = 'e5a7c3b9d1f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'push_subscriptions',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('endpoint', sa.String(length=2048), nullable=False),
        sa.Column('p256dh', sa.String(length=100), nullable=False),
        sa.Column('auth', sa.String(length=50), nullable=False),
        sa.Column('token_id', sa.String(length=64), nullable=False),
        sa.Column('token_issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('session_expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('endpoint'),
    )
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscriptions_token_id'), ['token_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_subscriptions_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_user_id'))
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_token_id'))
    op.drop_table('push_subscriptions')
