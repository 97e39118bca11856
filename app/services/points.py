"""The wallet and its append-only ledger: every change to a balance writes one row."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app import clock
from app.database import write_transaction
from app.errors import InsufficientPoints, UserNotFound, ValidationFailed
from app.extensions import db
from app.models import PointsTransaction, PointsWallet, User

MAX_GRANT = 1_000_000_000
ONE_TICK = timedelta(microseconds=1)


def ledger_time_sql(updated_at: Any, now: Any) -> sa.ColumnElement[datetime]:
    """The time of a wallet's next ledger row, computed on the locked wallet row (PostgreSQL):
    now, or a microsecond after the wallet's last change when that is later.

    A change that waited for the wallet's lock may have taken `now` before the one it
    waited for, so a wallet's ledger rows sort by created_at in the order they were
    written, as their balance_after chain does.
    """
    return sa.func.greatest(now, updated_at + sa.literal(ONE_TICK))


def _ledger_time(user_id: uuid.UUID, now: datetime) -> Any:
    """ledger_time_sql for the wallet of `user_id`, in the caller's write transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        return ledger_time_sql(PointsWallet.updated_at, now)
    # SQLite: BEGIN IMMEDIATE serialises writers, so the wallet's last change is final here.
    last = db.session.scalar(sa.select(PointsWallet.updated_at).where(PointsWallet.user_id == user_id))
    return max(now, last + ONE_TICK) if last is not None else now


def create_wallet(user_id: uuid.UUID, initial_points: int) -> PointsWallet:
    """Add a wallet for a new user (in the caller's transaction), crediting any welcome points."""
    now = clock.now()
    wallet = PointsWallet(user_id=user_id, balance=initial_points, updated_at=now)
    db.session.add(wallet)
    if initial_points:
        _append_ledger(user_id, initial_points, "initial_grant", initial_points, now)
    return wallet


def balance_sql(user_id: Any) -> sa.ScalarSelect[int]:
    """The user's balance as a scalar subquery (NULL without a wallet)."""
    return sa.select(PointsWallet.balance).where(PointsWallet.user_id == user_id).scalar_subquery()


def balance_of(user_id: uuid.UUID) -> int:
    """The current balance (0 for a user without a wallet)."""
    return int(db.session.scalar(sa.select(balance_sql(user_id))) or 0)


def debit(
    user_id: uuid.UUID,
    amount: int,
    reason: str,
    *,
    message_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
) -> int:
    """Take `amount` points and log it; returns the balance after the debit.

    Raises InsufficientPoints, changing nothing, when the balance is too low.
    """
    new_balance = try_debit(user_id, amount, reason, message_id=message_id, conversation_id=conversation_id)
    if new_balance is None:
        raise InsufficientPoints(required=amount, balance=balance_of(user_id))
    return new_balance


def try_debit(
    user_id: uuid.UUID,
    amount: int,
    reason: str,
    *,
    message_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
) -> int | None:
    """Take `amount` points with a guarded update (which locks the wallet row) and log it.

    Returns the balance after the debit, or None, changing nothing, when it is too low.
    """
    changed = db.session.execute(
        sa.update(PointsWallet)
        .where(PointsWallet.user_id == user_id, PointsWallet.balance >= amount)
        .values(balance=PointsWallet.balance - amount, updated_at=_ledger_time(user_id, clock.now()))
        .returning(PointsWallet.balance, PointsWallet.updated_at)
    ).first()
    if changed is None:
        return None
    _append_ledger(user_id, -amount, reason, changed.balance, changed.updated_at, message_id, conversation_id)
    return int(changed.balance)


def credit(user_id: uuid.UUID, amount: int, reason: str) -> int:
    """Add points to a wallet (in the caller's transaction); returns the new balance."""
    changed = db.session.execute(
        sa.update(PointsWallet)
        .where(PointsWallet.user_id == user_id)
        .values(balance=PointsWallet.balance + amount, updated_at=_ledger_time(user_id, clock.now()))
        .returning(PointsWallet.balance, PointsWallet.updated_at)
    ).first()
    if changed is None:
        raise UserNotFound("That user has no wallet.")
    _append_ledger(user_id, amount, reason, changed.balance, changed.updated_at)
    return int(changed.balance)


def grant_points(username: str, amount: int) -> int:
    """Credit `amount` points to the named user with a ledger row; returns the new balance."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_GRANT:
        raise ValidationFailed(f"The amount must be a whole number from 1 to {MAX_GRANT}.")
    with write_transaction():
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))
        if user is None:
            raise UserNotFound(f"No user is called {username!r}.")
        return credit(user.id, amount, "grant")


def ledger_sum(user_id: uuid.UUID) -> int:
    """The sum of a user's ledger rows (always equal to the wallet balance)."""
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PointsTransaction.amount), 0)).where(
            PointsTransaction.user_id == user_id
        )
    )
    return int(total or 0)


def _append_ledger(
    user_id: uuid.UUID,
    amount: int,
    reason: str,
    balance_after: int,
    at: datetime,
    message_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
) -> None:
    db.session.add(
        PointsTransaction(
            user_id=user_id,
            amount=amount,
            reason=reason,
            balance_after=balance_after,
            message_id=message_id,
            conversation_id=conversation_id,
            created_at=at,
        )
    )
