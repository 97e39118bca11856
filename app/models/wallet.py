"""Points: a wallet per user and the append-only ledger whose sum is its balance."""

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.extensions import db
from app.models.types import UTCDateTime, new_id


class PointsWallet(db.Model):
    """A user's points balance; never negative."""

    __tablename__ = "points_wallets"
    __table_args__ = (sa.CheckConstraint("balance >= 0", name="ck_points_wallets_balance_nonnegative"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    balance: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class PointsTransaction(db.Model):
    """One ledger row: a signed change to a wallet and the balance after it."""

    __tablename__ = "points_transactions"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(32))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("messages.id", ondelete="SET NULL")
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("conversations.id", ondelete="SET NULL")
    )
    balance_after: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class MessageQuota(db.Model):
    """A user's free-message count for one quota day; rolled over by date comparison."""

    __tablename__ = "message_quotas"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    messages_sent_today: Mapped[int] = mapped_column(sa.Integer, default=0)
    quota_date: Mapped[date] = mapped_column(sa.Date)
    daily_free_limit: Mapped[int] = mapped_column(sa.Integer, default=20)
    points_per_message: Mapped[int] = mapped_column(sa.Integer, default=10)
