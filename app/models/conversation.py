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
    # The chat's disappearing-messages timer, shared by both participants: a send that
    # names no expiration expires after it. Who set it last, and when, for the chat header.
    expiration_hours: Mapped[int | None] = mapped_column(sa.Integer)
    expiration_set_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    expiration_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    # The participant's own settings: archiving hides the chat from the main list (a new
    # message from the other participant brings it back unless muted); muting keeps it
    # archived and silent. Neither changes anything for the other participant.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    muted: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


def pair_key(first: uuid.UUID, second: uuid.UUID) -> str:
    """The order-independent key of a pair of users."""
    low, high = sorted((str(first), str(second)))
    return f"{low}:{high}"
