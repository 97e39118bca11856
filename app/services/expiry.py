"""Disappearing messages without timers: filtered on every read, marked at login (their
attachments' bytes deleted with them)."""

import uuid
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Expired:
    """What one pass marked: how many messages, and the storage keys of their attachments
    (marked deleted in the same transaction), whose bytes go once it committed."""

    messages: int
    stored_keys: list[str] = field(default_factory=list)


def expire_for_user(user_id: uuid.UUID) -> Expired:
    """Mark every expired message of the user's conversations, and their attachments
    deleted, in one transaction of two set-based UPDATEs (attachments first, while their
    messages still match); the bytes are left to the caller."""
    from app.services.attachments import mark_deleted_with  # it reads visible_at from here

    now = clock.now()
    user_conversations = sa.select(ConversationParticipant.conversation_id).where(
        ConversationParticipant.user_id == user_id
    )
    newly_expired = (
        Message.conversation_id.in_(user_conversations),
        Message.is_expired == sa.false(),
        Message.expires_at.is_not(None),
        Message.expires_at <= now,
    )
    with write_transaction():
        keys = mark_deleted_with(sa.select(Message.id).where(*newly_expired), now)
        result = db.session.execute(
            sa.update(Message)
            .where(*newly_expired)
            .values(is_expired=True, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return Expired(int(result.rowcount or 0), keys)


def mark_expired_for_user(user_id: uuid.UUID) -> int:
    """Mark the user's expired messages and their attachments (expire_for_user), then,
    with no transaction open, delete those attachments' bytes; returns the count."""
    from app.storage import app_storage, delete_all

    expired = expire_for_user(user_id)
    delete_all(app_storage(), expired.stored_keys)
    return expired.messages
