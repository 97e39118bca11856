"""The wallet and its append-only ledger: every change to a balance writes one row."""

import uuid
from typing import Any

import sqlalchemy as sa

from app import clock
from app.database import write_transaction
from app.errors import InsufficientPoints, UserNotFound, ValidationFailed
from app.extensions import db
from app.models import PointsTransaction, PointsWallet, User

MAX_GRANT = 1_000_000_000


def create_wallet(user_id: uuid.UUID, initial_points: int) -> PointsWallet:
    """Add a wallet for a new user (in the caller's transaction), crediting any welcome points."""
    wallet = PointsWallet(user_id=user_id, balance=initial_points, updated_at=clock.now())
    db.session.add(wallet)
    if initial_points:
        _append_ledger(user_id, initial_points, "initial_grant", initial_points)
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
    new_balance = db.session.scalar(
        sa.update(PointsWallet)
        .where(PointsWallet.user_id == user_id, PointsWallet.balance >= amount)
        .values(balance=PointsWallet.balance - amount, updated_at=clock.now())
        .returning(PointsWallet.balance)
    )
    if new_balance is None:
        return None
    _append_ledger(user_id, -amount, reason, new_balance, message_id, conversation_id)
    return int(new_balance)


def credit(user_id: uuid.UUID, amount: int, reason: str) -> int:
    """Add points to a wallet (in the caller's transaction); returns the new balance."""
    new_balance = db.session.scalar(
        sa.update(PointsWallet)
        .where(PointsWallet.user_id == user_id)
        .values(balance=PointsWallet.balance + amount, updated_at=clock.now())
        .returning(PointsWallet.balance)
    )
    if new_balance is None:
        raise UserNotFound("That user has no wallet.")
    _append_ledger(user_id, amount, reason, new_balance)
    return int(new_balance)


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
            created_at=clock.now(),
        )
    )
