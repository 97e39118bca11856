"""Accounts."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.extensions import db
from app.models.types import UTCDateTime, new_id


class User(db.Model):
    """A person who can log in; usernames are unique regardless of case."""

    __tablename__ = "users"
    __table_args__ = (sa.Index("uq_users_username_lower", sa.func.lower(sa.text("username")), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(sa.String(32))
    display_name: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class RevokedToken(db.Model):
    """An access token revoked by logout, kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
