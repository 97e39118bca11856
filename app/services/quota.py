"""The daily free-message quota: one row per user, rolled over by date comparison."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.models import MessageQuota, PointsWallet
from app.services import points
from app.settings import BusinessSettings


@dataclass(frozen=True)
class QuotaView:
    """What a user sees of their quota and wallet."""

    daily_free_limit: int
    messages_sent_today: int
    free_remaining: int
    points_per_message: int
    points_balance: int
    quota_date: date
    resets_at: datetime
    next_message_cost: int


def create_quota(user_id: uuid.UUID, settings: BusinessSettings) -> MessageQuota:
    """Add the quota row of a new user (in the caller's transaction)."""
    quota = MessageQuota(
        user_id=user_id,
        messages_sent_today=0,
        quota_date=clock.local_date(clock.now(), settings.quota_timezone),
        daily_free_limit=settings.daily_free_messages,
        points_per_message=settings.points_per_message,
    )
    db.session.add(quota)
    return quota


@dataclass(frozen=True)
class QuotaClaim:
    """A send's slot in today's quota: the count including it, and what it costs."""

    messages_sent_today: int
    daily_free_limit: int
    points_per_message: int
    quota_date: date
    balance: int

    @property
    def cost(self) -> int:
        """0 for a free slot, the per-message price beyond the free limit."""
        return 0 if self.messages_sent_today <= self.daily_free_limit else self.points_per_message


def claim_slot(user_id: uuid.UUID, settings: BusinessSettings) -> QuotaClaim:
    """Lock the user's quota row and count one more send, in one UPDATE.

    The UPDATE takes the row lock, rolls a row from an earlier day over (date
    comparison, no timer) and returns the new count with the wallet balance, so
    the caller learns the price without another round trip.
    """
    today = clock.local_date(clock.now(), settings.quota_timezone)
    same_day = MessageQuota.quota_date == today
    balance = sa.select(PointsWallet.balance).where(PointsWallet.user_id == user_id).scalar_subquery()
    statement = (
        sa.update(MessageQuota)
        .where(MessageQuota.user_id == user_id)
        .values(
            messages_sent_today=sa.case((same_day, MessageQuota.messages_sent_today + 1), else_=1),
            daily_free_limit=sa.case(
                (same_day, MessageQuota.daily_free_limit), else_=settings.daily_free_messages
            ),
            points_per_message=sa.case(
                (same_day, MessageQuota.points_per_message), else_=settings.points_per_message
            ),
            quota_date=today,
        )
        .returning(
            MessageQuota.messages_sent_today,
            MessageQuota.daily_free_limit,
            MessageQuota.points_per_message,
            MessageQuota.quota_date,
            balance,
        )
        .execution_options(synchronize_session=False)
    )
    row = db.session.execute(statement).first()
    if row is None:  # a user created before quotas existed: give them a row, then claim
        create_quota(user_id, settings)
        db.session.flush()
        row = db.session.execute(statement).first()
    sent, limit, price, quota_date, wallet_balance = row
    return QuotaClaim(sent, limit, price, quota_date, int(wallet_balance or 0))


def view_claim(claim: QuotaClaim, settings: BusinessSettings) -> QuotaView:
    """The quota right after a send (the claim holds the balance after any debit)."""
    row = MessageQuota(
        messages_sent_today=claim.messages_sent_today,
        quota_date=claim.quota_date,
        daily_free_limit=claim.daily_free_limit,
        points_per_message=claim.points_per_message,
    )
    return view_quota(row, claim.balance, settings)


def view_quota(quota: MessageQuota, balance: int, settings: BusinessSettings) -> QuotaView:
    """The quota as of now: a row from an earlier day reads as a fresh day, without a write."""
    today = clock.local_date(clock.now(), settings.quota_timezone)
    sent, limit, price = quota.messages_sent_today, quota.daily_free_limit, quota.points_per_message
    if quota.quota_date != today:
        sent, limit, price = 0, settings.daily_free_messages, settings.points_per_message
    return QuotaView(
        daily_free_limit=limit,
        messages_sent_today=sent,
        free_remaining=max(0, limit - sent),
        points_per_message=price,
        points_balance=balance,
        quota_date=today,
        resets_at=clock.start_of_next_day(today, settings.quota_timezone),
        next_message_cost=0 if sent < limit else price,
    )


def get_quota(user_id: uuid.UUID, settings: BusinessSettings) -> QuotaView:
    """Read the user's quota and balance (no lock, no write)."""
    quota = db.session.scalar(sa.select(MessageQuota).where(MessageQuota.user_id == user_id))
    if quota is None:
        today = clock.local_date(clock.now(), settings.quota_timezone)
        quota = MessageQuota(
            messages_sent_today=0,
            quota_date=today,
            daily_free_limit=settings.daily_free_messages,
            points_per_message=settings.points_per_message,
        )
    return view_quota(quota, points.balance_of(user_id), settings)
