"""messages.seq: each conversation's commit order; conversations.last_seq

Revision ID: 7c1e5a9d2f40
Revises: 52b90345bc69
Create Date: 2026-11-29 09:30:00

Existing messages are numbered by (created_at, id), the order pages used until now.
"""
import warnings

from alembic import op
import sqlalchemy as sa


revision = '7c1e5a9d2f40'
down_revision = '52b90345bc69'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seq', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))

    op.execute(
        """
        UPDATE messages SET seq = (
            SELECT numbered.position FROM (
                SELECT id, ROW_NUMBER() OVER (
                    PARTITION BY conversation_id ORDER BY created_at, id) AS position
                FROM messages
            ) AS numbered
            WHERE numbered.id = messages.id
        )
        """
    )
    op.execute(
        """
        UPDATE conversations SET last_seq = COALESCE(
            (SELECT MAX(seq) FROM messages WHERE messages.conversation_id = conversations.id), 0)
        """
    )

    # On SQLite the batch rebuilds messages, reflecting the tables its foreign keys
    # name; users' expression index (lower(username)) cannot be reflected and is not
    # needed for the rebuild.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table('messages', schema=None) as batch_op:
            batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
            batch_op.drop_index('ix_messages_conversation_created')
            batch_op.create_unique_constraint('uq_messages_conversation_seq', ['conversation_id', 'seq'])


def downgrade():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table('messages', schema=None) as batch_op:
            batch_op.drop_constraint('uq_messages_conversation_seq', type_='unique')
            batch_op.create_index('ix_messages_conversation_created', ['conversation_id', 'created_at', 'id'], unique=False)
            batch_op.drop_column('seq')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('last_seq')
