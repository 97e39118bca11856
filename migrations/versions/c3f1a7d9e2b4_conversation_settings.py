"""conversation settings: archive and mute per participant, the chat's shared timer

Revision ID: c3f1a7d9e2b4
Revises: 9d3b7e2a6c15
Create Date: 2026-11-29 11:40:00

conversation_participants gains archived_at and muted (the participant's own);
conversations gains expiration_hours with who set it and when (shared by the pair).
"""
import warnings

from alembic import op
import sqlalchemy as sa


revision = 'c3f1a7d9e2b4'
down_revision = '9d3b7e2a6c15'
branch_labels = None
depends_on = None


def upgrade():
    # On SQLite each batch rebuilds its table, reflecting users (a foreign key target),
    # whose expression index (lower(username)) cannot be reflected and is not needed.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table('conversation_participants', schema=None) as batch_op:
            batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column('muted', sa.Boolean(), server_default=sa.false(), nullable=False))
        with op.batch_alter_table('conversations', schema=None) as batch_op:
            batch_op.add_column(sa.Column('expiration_hours', sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column('expiration_set_by', sa.Uuid(), nullable=True))
            batch_op.add_column(sa.Column('expiration_set_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.create_foreign_key(
                'conversations_expiration_set_by_fkey', 'users', ['expiration_set_by'], ['id'],
                ondelete='SET NULL',
            )


def downgrade():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table('conversations', schema=None) as batch_op:
            batch_op.drop_constraint('conversations_expiration_set_by_fkey', type_='foreignkey')
            batch_op.drop_column('expiration_set_at')
            batch_op.drop_column('expiration_set_by')
            batch_op.drop_column('expiration_hours')
        with op.batch_alter_table('conversation_participants', schema=None) as batch_op:
            batch_op.drop_column('muted')
            batch_op.drop_column('archived_at')
