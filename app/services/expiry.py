"""Disappearing messages without timers: filtered on every read, marked at login."""

import uuid
from datetime import datetime

import sqlalchemy as sa

from app import clock
from app.database import write_transaction
from app.extensions import db
from app.models import ConversationParticipant, Message


def visible_at(moment: datetime) -> sa.ColumnElement[bool]:
    """The condition for a message that has not expired at `moment`, marked or not."""
    return sa.and_(
        Message.is_expired == sa.false(),
        sa.or_(Message.expires_at.is_(None), Message.expires_at > moment),
    )


def is_visible(message: Message, moment: datetime) -> bool:
    """visible_at for a loaded message."""
    expires_at = message.expires_at
    return not message.is_expired and (expires_at is None or expires_at > moment)


def mark_expired_for_user(user_id: uuid.UUID) -> int:
    """Mark every expired message of the user's conversations in one UPDATE (its own
    transaction); returns the count."""
    now = clock.now()
    user_conversations = sa.select(ConversationParticipant.conversation_id).where(
        ConversationParticipant.user_id == user_id
    )
    with write_transaction():
        result = db.session.execute(
            sa.update(Message)
            .where(
                Message.conversation_id.in_(user_conversations),
                Message.is_expired == sa.false(),
                Message.expires_at.is_not(None),
                Message.expires_at <= now,
            )
            .values(is_expired=True, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)
