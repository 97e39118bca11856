"""Attachments: files uploaded first, then sent with a message (and gone with it)."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.extensions import db
from app.models.types import UTCDateTime, new_id

_UNSENT = sa.text("message_id IS NULL AND deleted_at IS NULL")


class Attachment(db.Model):
    """An uploaded file: the uploader's own until a send attaches it to a message.

    The bytes live in the attachment storage under `storage_key` (and the thumbnail of
    an image under `thumbnail_key`), never under a name the client gave. `deleted_at`
    marks a row whose bytes were deleted: its message expired, or it was never sent.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        # A page's messages load their attachments by message id (one query per page).
        sa.Index("ix_attachments_message_id", "message_id"),
        # A user's unsent uploads by age: the sweep of day-old ones at upload and login.
        sa.Index(
            "ix_attachments_unsent",
            "uploader_id",
            "created_at",
            postgresql_where=_UNSENT,
            sqlite_where=_UNSENT,
        ),
        # A user's uploads of the last day (the daily byte allowance), sent or not.
        sa.Index("ix_attachments_uploader_created", "uploader_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    uploader_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"))
    # CASCADE, not SET NULL: an attachment whose message row went would otherwise look
    # like an unsent upload again, readable and sendable by its uploader.
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("messages.id", ondelete="CASCADE")
    )
    # Its place in the message: the index of its id in the send's attachmentIds (null
    # until sent), so a message shows its files in the order the sender put them.
    position: Mapped[int | None] = mapped_column(sa.SmallInteger)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    width: Mapped[int | None] = mapped_column(sa.Integer)
    height: Mapped[int | None] = mapped_column(sa.Integer)
    storage_key: Mapped[str] = mapped_column(sa.String(100))
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def has_thumbnail(self) -> bool:
        """Whether a thumbnail was made (images only)."""
        return self.thumbnail_key is not None

    @property
    def is_image(self) -> bool:
        """Whether the file is one of the images this service re-encodes (shown inline)."""
        return self.content_type.startswith("image/")
