"""One-to-one conversations and their participants."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.extensions import db
from app.models.types import UTCDateTime, new_id


class Conversation(db.Model):
    """A conversation between two users; `pair_key` makes one per pair."""

    __tablename__ = "conversations"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    pair_key: Mapped[str] = mapped_column(sa.String(73), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    # The seq of the newest message: each send takes the next one under this row's lock,
    # so seq order is commit order.
    last_seq: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class ConversationParticipant(db.Model):
    """Membership of a user in a conversation."""

    __tablename__ = "conversation_participants"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


def pair_key(first: uuid.UUID, second: uuid.UUID) -> str:
    """The order-independent key of a pair of users."""
    low, high = sorted((str(first), str(second)))
    return f"{low}:{high}"
