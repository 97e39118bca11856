"""Messages."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.attachment import Attachment
from app.models.types import UTCDateTime, new_id

_UNEXPIRED = sa.text("is_expired = false AND expires_at IS NOT NULL")
_UNREAD = sa.text("is_read = false")


class Message(db.Model):
    """A message in a conversation; disappears from reads once `expires_at` passes."""

    __tablename__ = "messages"
    __table_args__ = (
        # Pages, catch-up and the newest message go by seq: the commit order.
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        # The after_login hook walks only the user's unexpired, expiring rows.
        sa.Index(
            "ix_messages_unexpired_expiry",
            "conversation_id",
            "expires_at",
            postgresql_where=_UNEXPIRED,
            sqlite_where=_UNEXPIRED,
        ),
        sa.Index(
            "ix_messages_unread",
            "conversation_id",
            "sender_id",
            postgresql_where=_UNREAD,
            sqlite_where=_UNREAD,
        ),
        sa.UniqueConstraint("sender_id", "client_message_id", name="uq_messages_sender_client_message_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(sa.Integer)  # position in the conversation, in commit order
    sender_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    content: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_expired: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_read: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client_message_id: Mapped[str | None] = mapped_column(sa.String(64))
    points_charged: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
    # Loaded with the messages, one query per page (selectin), in the order the send named
    # them (position); deleted ones
    # (an expired message's, whose bytes are gone) never.
    attachments: Mapped[list[Attachment]] = relationship(
        Attachment,
        primaryjoin=lambda: sa.and_(Attachment.message_id == Message.id, Attachment.deleted_at.is_(None)),
        order_by=lambda: (Attachment.position, Attachment.id),
        lazy="selectin",
        viewonly=True,
    )
