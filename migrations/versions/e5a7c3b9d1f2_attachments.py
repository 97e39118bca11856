"""attachments: uploads sent with messages, deleted with them

Revision ID: e5a7c3b9d1f2
Revises: d8e2b5c1f4a6
Create Date: 2026-11-30 10:00:00

One table. Its rows point at bytes kept in the attachment storage (UPLOAD_DIR), never
in the database. Indexes: a message's attachments (pages load them by message id), a
user's unsent uploads by age (partial: the day-old sweep), and a user's uploads by
time (the daily byte allowance).
"""
from alembic import op
import sqlalchemy as sa


revision = 'e5a7c3b9d1f2'
down_revision = 'd8e2b5c1f4a6'
branch_labels = None
depends_on = None

UNSENT = sa.text("message_id IS NULL AND deleted_at IS NULL")


def upgrade():
    op.create_table(
        'attachments',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('uploader_id', sa.Uuid(), nullable=False),
        sa.Column('message_id', sa.Uuid(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=True),
        sa.Column('height', sa.Integer(), nullable=True),
        sa.Column('storage_key', sa.String(length=100), nullable=False),
        sa.Column('thumbnail_key', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploader_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index('ix_attachments_message_id', ['message_id'], unique=False)
        batch_op.create_index(
            'ix_attachments_unsent', ['uploader_id', 'created_at'], unique=False,
            postgresql_where=UNSENT, sqlite_where=UNSENT,
        )
        batch_op.create_index('ix_attachments_uploader_created', ['uploader_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_attachments_uploader_created')
        batch_op.drop_index('ix_attachments_unsent', postgresql_where=UNSENT, sqlite_where=UNSENT)
        batch_op.drop_index('ix_attachments_message_id')
    op.drop_table('attachments')
