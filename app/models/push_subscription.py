"""Web Push subscriptions: where a user's browsers receive notifications."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.extensions import db
from app.models.types import UTCDateTime, new_id


class PushSubscription(db.Model):
    """One browser's push subscription, tied to the login session that made it.

    A push goes to it only while that session is valid (not expired, not logged out,
    not superseded by a password change): a browser someone logged out of, or an old
    session after a password change, gets nothing. The endpoint is the browser's own
    and unique: when another user logs in on that browser and subscribes, it moves.
    """

    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(sa.String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(sa.String(100))  # the browser's P-256 key, base64url
    auth: Mapped[str] = mapped_column(sa.String(50))  # its 16-byte auth secret, base64url
    token_id: Mapped[str] = mapped_column(sa.String(64), index=True)  # the session's jti
    token_issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    session_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
