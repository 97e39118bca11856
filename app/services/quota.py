"""The daily free-message quota: one row per user, rolled over by date comparison."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.models import MessageQuota
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


def lock_quota(user_id: uuid.UUID, settings: BusinessSettings) -> MessageQuota:
    """The user's quota row under a row lock (FOR UPDATE), rolled over to today if needed."""
    quota = db.session.scalar(
        sa.select(MessageQuota)
        .where(MessageQuota.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if quota is None:  # a user created before quotas existed: give them one now
        quota = create_quota(user_id, settings)
        db.session.flush()
    today = clock.local_date(clock.now(), settings.quota_timezone)
    if quota.quota_date != today:
        roll_over(quota, today, settings)
    return quota


def roll_over(quota: MessageQuota, today: date, settings: BusinessSettings) -> None:
    """Start a new quota day; limits and prices follow the current settings from then on."""
    quota.quota_date = today
    quota.messages_sent_today = 0
    quota.daily_free_limit = settings.daily_free_messages
    quota.points_per_message = settings.points_per_message


def price_of_next_message(quota: MessageQuota) -> int:
    """0 while free messages remain today, the per-message price after."""
    if quota.messages_sent_today < quota.daily_free_limit:
        return 0
    return quota.points_per_message


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
