"""points_transactions is append-only; a wallet with a ledger cannot be deleted (PostgreSQL)

Revision ID: 9d3b7e2a6c15
Revises: 7c1e5a9d2f40
Create Date: 2026-11-29 09:40:00

Triggers refuse UPDATE and DELETE of ledger rows and DELETE of a wallet whose user has
ledger rows (so a user with a money history cannot be deleted either). TRUNCATE, which
fires no row triggers, stays available to operators. SQLite, the embedded development
database, has no such triggers.
"""
from alembic import op


revision = '9d3b7e2a6c15'
down_revision = '7c1e5a9d2f40'
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE FUNCTION points_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'points_transactions is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER points_transactions_append_only
        BEFORE UPDATE OR DELETE ON points_transactions
        FOR EACH ROW EXECUTE FUNCTION points_ledger_append_only()
    """,
    """
    CREATE FUNCTION points_wallet_keeps_its_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM points_transactions WHERE user_id = OLD.user_id) THEN
            RAISE EXCEPTION 'points_wallets: the wallet of user % has ledger rows', OLD.user_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END
    $$
    """,
    """
    CREATE TRIGGER points_wallets_keep_ledger
        BEFORE DELETE ON points_wallets
        FOR EACH ROW EXECUTE FUNCTION points_wallet_keeps_its_ledger()
    """,
]

DOWNGRADE = [
    "DROP TRIGGER points_wallets_keep_ledger ON points_wallets",
    "DROP FUNCTION points_wallet_keeps_its_ledger()",
    "DROP TRIGGER points_transactions_append_only ON points_transactions",
    "DROP FUNCTION points_ledger_append_only()",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
