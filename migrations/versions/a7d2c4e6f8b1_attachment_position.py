"""attachment position: a message shows its files in the order the send named them

Revision ID: a7d2c4e6f8b1
Revises: f1b4d6a8c2e3
Create Date: 2026-11-29 18:30:00

Before, a message's attachments were ordered by id, that is by upload order, so
files uploaded in parallel could show in another order than the sender chose.
Attachments sent before this revision get their upload order as their position.
"""
import warnings

from alembic import op
import sqlalchemy as sa


revision = 'a7d2c4e6f8b1'
down_revision = 'f1b4d6a8c2e3'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN on both databases (no table rebuild on SQLite).
    op.add_column('attachments', sa.Column('position', sa.SmallInteger(), nullable=True))
    op.execute(
        """
        UPDATE attachments SET position = (
            SELECT count(*) FROM attachments AS earlier
            WHERE earlier.message_id = attachments.message_id AND earlier.id < attachments.id
        )
        WHERE message_id IS NOT NULL
        """
    )


def downgrade():
    # On SQLite the batch rebuilds the table, reflecting users (a foreign key target),
    # whose expression index SQLAlchemy cannot reflect and warns about.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table('attachments', schema=None) as batch_op:
            batch_op.drop_column('position')
