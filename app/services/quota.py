"""The daily free-message quota: one row per user, rolled over by date comparison.

The rule is written here once, in two twins that tests/api/test_quota_rule.py pins
together on both databases:

- the quota day: a row dated today or later is the current day (a later date means a
  clock set back or a time zone moved west: its count stands, no second free
  allowance); an older row reads as a fresh day with today's limits and price;
- the price: the n-th message of a quota day is free while n <= the day's free
  limit, and costs the day's price after that.

`quota_day` and `message_price` apply it in Python (what a user is shown);
`quota_day_sql` and `message_price_sql` build the same as SQLAlchemy expressions,
which every send uses (the step-by-step UPDATE and the PostgreSQL send statement).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.models import MessageQuota
from app.services import points
from app.settings import BusinessSettings


class QuotaRow(Protocol):
    """A quota row's four columns: a MessageQuota, or the columns of a table or CTE."""

    quota_date: Any
    messages_sent_today: Any
    daily_free_limit: Any
    points_per_message: Any


@dataclass(frozen=True)
class QuotaDay:
    """The quota day a row stands for: its date, count, free limit and price."""

    day: date
    sent: int
    free_limit: int
    price: int

    @property
    def next_message_cost(self) -> int:
        """What the next message of this day costs."""
        return message_price(self.sent + 1, self.free_limit, self.price)


def message_price(number: int, free_limit: int, price: int) -> int:
    """The price of the `number`-th message of a quota day (1 is the first)."""
    return 0 if number <= free_limit else price


def message_price_sql(number: Any, free_limit: Any, price: Any) -> sa.ColumnElement[int]:
    """message_price as an SQL expression."""
    return sa.case((number <= free_limit, 0), else_=price)


def quota_day(row: QuotaRow, today: date, settings: BusinessSettings) -> QuotaDay:
    """The quota day of a row as of `today` (a read: nothing is written)."""
    if row.quota_date >= today:
        return QuotaDay(row.quota_date, row.messages_sent_today, row.daily_free_limit, row.points_per_message)
    return QuotaDay(today, 0, settings.daily_free_messages, settings.points_per_message)


@dataclass(frozen=True)
class QuotaDayColumns:
    """quota_day as SQL expressions over a row's columns."""

    day: sa.ColumnElement[date]
    sent: sa.ColumnElement[int]
    free_limit: sa.ColumnElement[int]
    price: sa.ColumnElement[int]


def quota_day_sql(row: QuotaRow, today: Any, free_limit: Any, price: Any) -> QuotaDayColumns:
    """quota_day as SQL; `today`, `free_limit` and `price` are values or bind parameters."""
    current = row.quota_date >= today

    def pick(kept: Any, fresh: Any) -> sa.ColumnElement[Any]:
        return sa.case((current, kept), else_=fresh)

    return QuotaDayColumns(
        day=pick(row.quota_date, today),
        sent=pick(row.messages_sent_today, 0),
        free_limit=pick(row.daily_free_limit, free_limit),
        price=pick(row.points_per_message, price),
    )


def counted_values_sql(day: QuotaDayColumns) -> dict[str, Any]:
    """The quota row's new values once a send is counted in `day`."""
    return {
        "quota_date": day.day,
        "messages_sent_today": day.sent + 1,
        "daily_free_limit": day.free_limit,
        "points_per_message": day.price,
    }


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


def view_day(day: QuotaDay, balance: int, settings: BusinessSettings) -> QuotaView:
    """The view of a quota day and a balance."""
    return QuotaView(
        daily_free_limit=day.free_limit,
        messages_sent_today=day.sent,
        free_remaining=max(0, day.free_limit - day.sent),
        points_per_message=day.price,
        points_balance=balance,
        quota_date=day.day,
        resets_at=clock.start_of_next_day(day.day, settings.quota_timezone),
        next_message_cost=day.next_message_cost,
    )


def today(settings: BusinessSettings, moment: datetime | None = None) -> date:
    """The quota date of `moment` (now when not given)."""
    return clock.local_date(moment or clock.now(), settings.quota_timezone)


def create_quota(user_id: uuid.UUID, settings: BusinessSettings) -> MessageQuota:
    """Add the quota row of a new user (in the caller's transaction)."""
    quota = MessageQuota(
        user_id=user_id,
        messages_sent_today=0,
        quota_date=today(settings),
        daily_free_limit=settings.daily_free_messages,
        points_per_message=settings.points_per_message,
    )
    db.session.add(quota)
    return quota


@dataclass(frozen=True)
class QuotaClaim:
    """A send's place in its quota day (the count includes it) and the balance."""

    day: QuotaDay
    balance: int

    @property
    def cost(self) -> int:
        """0 for a free slot, the day's price beyond the free limit."""
        return message_price(self.day.sent, self.day.free_limit, self.day.price)


def claim_slot(user_id: uuid.UUID, on: date, settings: BusinessSettings) -> QuotaClaim:
    """Lock the user's quota row and count one more send on day `on`, in one UPDATE
    (in the caller's transaction).

    The UPDATE takes the row lock, rolls a row from an earlier day over and returns
    the new count with the wallet balance, so the caller learns the price without
    another round trip.
    """
    day = quota_day_sql(MessageQuota, on, settings.daily_free_messages, settings.points_per_message)
    balance = points.balance_sql(user_id)
    statement = (
        sa.update(MessageQuota)
        .where(MessageQuota.user_id == user_id)
        .values(counted_values_sql(day))
        .returning(
            MessageQuota.quota_date,
            MessageQuota.messages_sent_today,
            MessageQuota.daily_free_limit,
            MessageQuota.points_per_message,
            balance,
        )
        .execution_options(synchronize_session=False)
    )
    row = db.session.execute(statement).first()
    if row is None:  # a user created before quotas existed: give them a row, then claim
        create_quota(user_id, settings)
        db.session.flush()
        row = db.session.execute(statement).first()
    quota_date, sent, free_limit, price, wallet_balance = row
    return QuotaClaim(QuotaDay(quota_date, sent, free_limit, price), int(wallet_balance or 0))


def view_claim(claim: QuotaClaim, settings: BusinessSettings) -> QuotaView:
    """The quota right after a send (the claim holds the balance after any debit)."""
    return view_day(claim.day, claim.balance, settings)


def get_quota(user_id: uuid.UUID, settings: BusinessSettings) -> QuotaView:
    """Read the user's quota and balance (no lock, no write)."""
    row = db.session.scalar(sa.select(MessageQuota).where(MessageQuota.user_id == user_id))
    on = today(settings)
    day = (
        quota_day(row, on, settings)
        if row is not None
        else QuotaDay(on, 0, settings.daily_free_messages, settings.points_per_message)
    )
    return view_day(day, points.balance_of(user_id), settings)
