"""Attachments: uploading one (its type from its bytes, images cleaned), who may read it,
attaching uploads to a send, and deleting the bytes of expired and never-sent ones.

No timers: an attachment is readable while its message is visible (expires_at not yet
passed), its bytes are deleted by the after_login hook that marks the message expired,
and uploads never sent are deleted at their uploader's next upload or login once a day
old. Bytes are deleted only after the transaction that marked their rows committed;
files a crash left behind (rows marked but bytes kept, bytes stored but no row,
temporaries) go when an operator runs clean_storage (`flask attachments clean`).
"""

import io
import itertools
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import sqlalchemy as sa

from app import clock, green
from app.database import read_transaction, write_transaction
from app.errors import (
    AttachmentNotFound,
    AttachmentTooLarge,
    InvalidAttachment,
    RateLimited,
    ValidationFailed,
)
from app.extensions import db
from app.models import Attachment, ConversationParticipant, Message, User
from app.models.types import new_id
from app.services.attachment_files import (
    HEAD_BYTES,
    Check,
    FileKind,
    checks_for,
    clean_filename,
    clean_image,
    sniff,
)
from app.services.expiry import visible_at
from app.settings import AttachmentSettings
from app.storage import Storage, StoredKey, delete_all

UNSENT_LIFETIME = timedelta(days=1)
ALLOWANCE_WINDOW = timedelta(days=1)
MAX_PER_MESSAGE = 10
STREAM_CHUNK = 64 * 1024
# Images decoded at once per process (each may hold MAX_IMAGE_PIXELS x 4 bytes); others wait
# without blocking the event loop.
IMAGE_WORKERS = 2
# Uploads streaming (parsed, checked and written) at once per process; others wait, holding
# no database connection, with their bytes left in the socket. Ten at once in one eventlet
# worker kept /healthz waiting 468 ms at p99 (goal: under 100 ms). Not a setting yet.
MAX_CONCURRENT_UPLOADS = 2
THUMBNAIL_SUFFIX = ".thumb"
# Files with no row are deleted by clean_storage once this old (an upload stores its file a
# moment before the row commits), and so are temporaries left by a put that never finished.
STALE_AFTER = timedelta(hours=1)
CLEAN_BATCH = 500
NOT_USABLE = "must each be an upload of yours that was not sent yet"

_slots: dict[str, Any] = {}  # this process's semaphores, by what they bound (made on first use)


@dataclass(frozen=True)
class Upload:
    """An incoming file: the name the client gave, its bytes (read to the end), and the
    least it will weigh by what the client announced, checked against the daily
    allowance before reading (the exact size is checked once stored)."""

    filename: str | None
    stream: BinaryIO
    at_least: int = 0


@dataclass(frozen=True)
class _Stored:
    kind: FileKind
    size: int
    width: int | None
    height: int | None
    storage_key: str
    thumbnail_key: str | None

    @property
    def keys(self) -> list[str]:
        return [key for key in (self.storage_key, self.thumbnail_key) if key]


def upload_attachment(
    uploader_id: uuid.UUID, upload: Upload, settings: AttachmentSettings, storage: Storage
) -> Attachment:
    """Store an upload and record it, unsent; first delete the uploader's day-old unsent ones.

    The file streams to storage in chunks (never whole in memory) and is refused with
    nothing kept when it is empty, larger than `max_bytes`, of a type not allowed (415),
    damaged, or over the uploader's bytes of the last 24 hours (429). No database
    connection is held while it streams.
    """
    attachment_id = new_id()
    sweep_unsent(uploader_id, storage)
    now = clock.now()
    with read_transaction():
        _check_allowance(uploader_id, upload.at_least, settings, now)
    with _upload_slot():
        stored = _store_file(attachment_id, upload, settings, storage)
    try:
        with write_transaction():
            _lock_uploads_of(uploader_id)
            _check_allowance(uploader_id, stored.size, settings, now)
            attachment = Attachment(
                id=attachment_id,
                uploader_id=uploader_id,
                message_id=None,
                filename=clean_filename(upload.filename, stored.kind),
                content_type=stored.kind.content_type,
                size=stored.size,
                width=stored.width,
                height=stored.height,
                storage_key=stored.storage_key,
                thumbnail_key=stored.thumbnail_key,
                created_at=clock.now(),  # when it was stored (a long upload started earlier)
            )
            db.session.add(attachment)
    except BaseException:
        delete_all(storage, stored.keys)
        raise
    return attachment


def _check_allowance(
    uploader_id: uuid.UUID, adding: int, settings: AttachmentSettings, now: datetime
) -> None:
    """RateLimited when the uploader's bytes of the last 24 hours plus `adding` exceed the
    daily allowance; Retry-After is when the oldest of them leaves the window."""
    used, oldest = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Attachment.size), 0), sa.func.min(Attachment.created_at)
        ).where(Attachment.uploader_id == uploader_id, Attachment.created_at > now - ALLOWANCE_WINDOW)
    ).one()
    if int(used) + adding <= settings.daily_bytes:
        return
    oldest = _aware(oldest) if oldest is not None else now
    retry_after = (oldest + ALLOWANCE_WINDOW - now).total_seconds()
    raise RateLimited(
        retry_after,
        f"You have uploaded {int(used):,} bytes in the last 24 hours; the allowance is "
        f"{settings.daily_bytes:,} bytes.",
    )


def _aware(moment: datetime | str) -> datetime:
    """A timestamp from an aggregate (SQLite returns text, PostgreSQL an aware value)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _lock_uploads_of(uploader_id: uuid.UUID) -> None:
    """Serialise one user's upload records (the allowance check), on PostgreSQL with the
    user row's FOR NO KEY UPDATE lock, which does not block rows that reference the user.
    SQLite's write transaction is exclusive already."""
    db.session.execute(sa.select(User.id).where(User.id == uploader_id).with_for_update(key_share=True))


def _store_file(
    attachment_id: uuid.UUID, upload: Upload, settings: AttachmentSettings, storage: Storage
) -> _Stored:
    """Decide the type from the first bytes, then stream the rest through its checks into
    storage (an image through Pillow first); nothing is kept when a check fails."""
    head = _read_head(upload.stream)
    if not head:
        raise InvalidAttachment("The file is empty.")
    kind = sniff(head, settings.types)
    stream = _CheckedStream(head, upload.stream, settings.max_bytes, checks_for(kind, head))
    key = str(attachment_id)
    if kind.pillow_format is None:
        return _Stored(kind, storage.put(key, stream), None, None, key, None)
    with tempfile.TemporaryFile() as scratch:
        while chunk := stream.read(STREAM_CHUNK):
            scratch.write(chunk)
        scratch.seek(0)
        with _image_slot():
            clean = green.run_blocking(clean_image, scratch, kind)
    thumbnail_key = f"{key}{THUMBNAIL_SUFFIX}"
    with clean.data:
        size = storage.put(key, clean.data)
    try:
        storage.put(thumbnail_key, io.BytesIO(clean.thumbnail))
    except BaseException:
        storage.delete(key)
        raise
    return _Stored(kind, size, clean.width, clean.height, key, thumbnail_key)


def _upload_slot() -> Any:
    """One of MAX_CONCURRENT_UPLOADS slots for streaming an upload."""
    return _slot("upload", MAX_CONCURRENT_UPLOADS)


def _image_slot() -> Any:
    """One of IMAGE_WORKERS slots for decoding an image."""
    return _slot("image", IMAGE_WORKERS)


def _slot(name: str, size: int) -> Any:
    """This process's semaphore `name` of `size` slots, made on first use (in the worker,
    once eventlet has patched it)."""
    if name not in _slots:
        _slots[name] = green.bounded_semaphore(size)
    return _slots[name]


def _read_head(stream: BinaryIO) -> bytes:
    """Up to HEAD_BYTES first bytes (fewer only for a shorter file)."""
    parts: list[bytes] = []
    length = 0
    while length < HEAD_BYTES:
        chunk = stream.read(HEAD_BYTES - length)
        if not chunk:
            break
        parts.append(chunk)
        length += len(chunk)
    return b"".join(parts)


class _CheckedStream:
    """The file's bytes (the head already read, then the rest), counted against the size
    limit and fed to the checks of its kind; the end of the file runs their final checks,
    so a bad file fails while it is being stored and nothing is kept."""

    def __init__(self, head: bytes, rest: BinaryIO, limit: int, checks: list[Check]) -> None:
        self._pending = head
        self._rest = rest
        self._limit = limit
        self._checks = checks
        self._done = False
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """The next chunk (at most STREAM_CHUNK bytes), or b"" at the end."""
        if self._done:
            return b""
        if self._pending:
            chunk, self._pending = self._pending, b""
        else:
            chunk = self._rest.read(STREAM_CHUNK)
        if not chunk:
            self._done = True
            for check in self._checks:
                check.finish()
            return b""
        self.size += len(chunk)
        if self.size > self._limit:
            raise AttachmentTooLarge(
                f"The file is larger than {self._limit:,} bytes ({self._limit / 2**20:g} MiB), the limit."
            )
        for check in self._checks:
            check.feed(chunk)
        return chunk


# -- reading -----------------------------------------------------------------------------


def find_readable(viewer_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment:
    """The attachment if the viewer may read it: a participant of its message's
    conversation while the message is visible, or its uploader before it is sent.
    Anyone else, a deleted one, or one whose message expired (marked or not):
    AttachmentNotFound, exactly as for an id that does not exist."""
    now = clock.now()
    participant = sa.exists().where(
        ConversationParticipant.conversation_id == Message.conversation_id,
        ConversationParticipant.user_id == viewer_id,
    )
    query = (
        sa.select(Attachment)
        .outerjoin(Message, Message.id == Attachment.message_id)
        .where(
            Attachment.id == attachment_id,
            Attachment.deleted_at.is_(None),
            sa.or_(
                sa.and_(Attachment.message_id.is_(None), Attachment.uploader_id == viewer_id),
                sa.and_(Message.id.is_not(None), visible_at(now), participant),
            ),
        )
    )
    with read_transaction():
        attachment = db.session.scalar(query)
    if attachment is None:
        raise AttachmentNotFound()
    return attachment


def thumbnail_name(attachment: Attachment) -> str:
    """The download name of an image's thumbnail."""
    stem = attachment.filename.rsplit(".", 1)[0] or "attachment"
    return f"{stem}-thumbnail.webp"


# -- sending -----------------------------------------------------------------------------


def lock_for_send(sender_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]) -> list[Attachment]:
    """Lock the uploads a send names (in id order, FOR UPDATE on PostgreSQL; SQLite's write
    transaction is exclusive) and check each is the sender's, unsent and not deleted;
    ValidationFailed otherwise, the same whichever id is wrong and why (another user's
    upload looks like no upload). In the send's transaction."""
    rows = db.session.scalars(
        sa.select(Attachment)
        .where(Attachment.id.in_(attachment_ids))
        .order_by(Attachment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    usable = [
        row
        for row in rows
        if row.uploader_id == sender_id and row.message_id is None and row.deleted_at is None
    ]
    if len(usable) != len(set(attachment_ids)):
        raise ValidationFailed(fields=[{"field": "attachmentIds", "message": NOT_USABLE}])
    return usable


def in_send_order(attachments: Sequence[Attachment], attachment_ids: Sequence[uuid.UUID]) -> list[Attachment]:
    """The locked uploads in the order the send named them (a repeated id counts once)."""
    by_id = {attachment.id: attachment for attachment in attachments}
    return [by_id[attachment_id] for attachment_id in dict.fromkeys(attachment_ids)]


def attach(attachments: Sequence[Attachment], message_id: uuid.UUID) -> None:
    """Point the locked uploads, in send order, at the message just inserted, each with its
    position (in the send's transaction)."""
    positions = {attachment.id: position for position, attachment in enumerate(attachments)}
    db.session.execute(
        sa.update(Attachment)
        .where(Attachment.id.in_(positions))
        .values(message_id=message_id, position=sa.case(positions, value=Attachment.id))
        .execution_options(synchronize_session=False)
    )


# -- deleting ----------------------------------------------------------------------------


def _stored_keys(rows: Iterable[Any]) -> list[str]:
    """The storage keys of deleted rows: each file and its thumbnail."""
    keys: list[str] = []
    for row in rows:
        keys.append(row.storage_key)
        if row.thumbnail_key:
            keys.append(row.thumbnail_key)
    return keys


def mark_deleted_with(messages: sa.Select, now: datetime) -> list[str]:
    """Mark the attachments of the messages `messages` selects (ids of newly expired ones)
    deleted, in one UPDATE in the caller's transaction; returns the storage keys whose
    bytes to delete once it committed."""
    rows = db.session.execute(
        sa.update(Attachment)
        .where(Attachment.message_id.in_(messages), Attachment.deleted_at.is_(None))
        .values(deleted_at=now)
        .returning(Attachment.storage_key, Attachment.thumbnail_key)
        .execution_options(synchronize_session=False)
    ).all()
    return _stored_keys(rows)


def sweep_unsent(uploader_id: uuid.UUID, storage: Storage) -> int:
    """Delete the uploader's uploads that were never sent and are a day old: rows marked
    in one UPDATE (its own transaction), then their bytes. Returns how many."""
    return _sweep_unsent_where(storage, Attachment.uploader_id == uploader_id)


def _sweep_unsent_where(storage: Storage, *whose: sa.ColumnElement[bool]) -> int:
    """sweep_unsent for the uploads `whose` selects (one uploader's, or everyone's)."""
    now = clock.now()
    unsent = sa.and_(Attachment.message_id.is_(None), Attachment.deleted_at.is_(None))
    is_due = (*whose, unsent, Attachment.created_at < now - UNSENT_LIFETIME)
    with read_transaction():  # most logins and uploads find nothing: no write transaction then
        if not db.session.scalar(sa.select(sa.exists().where(*is_due))):
            return 0
    # Locked in id order, as a send locks them: a send racing the sweep waits, then sees it.
    due = sa.select(Attachment.id).where(*is_due).order_by(Attachment.id).with_for_update()
    return _delete_rows(storage, due, unsent, now)


def _delete_rows(storage: Storage, due: sa.Select, still: sa.ColumnElement[bool], now: datetime) -> int:
    """Mark the rows `due` selects (ids, locked) deleted where `still` holds once locked,
    in a write transaction of its own, then delete their bytes; returns how many."""
    with write_transaction():
        rows = db.session.execute(
            sa.update(Attachment)
            .where(Attachment.id.in_(due), still)
            .values(deleted_at=now)
            .returning(Attachment.storage_key, Attachment.thumbnail_key)
            .execution_options(synchronize_session=False)
        ).all()
    delete_all(storage, _stored_keys(rows))
    return len(rows)


def delete_expired_everywhere(storage: Storage) -> int:
    """Delete the attachments of every expired message, whoever's (rows marked in one
    UPDATE, then their bytes), as the login hook does for its user's conversations: so the
    files of people who never log in again do not outlive their messages. The messages
    are left unmarked: their participants' next login still counts them as expired.
    Returns how many attachments."""
    now = clock.now()
    # Rows a login is marking right now are skipped (that login deletes them), so this
    # never waits on a login's locks and the two cannot deadlock.
    due = (
        sa.select(Attachment.id)
        .where(
            Attachment.deleted_at.is_(None),
            Attachment.message_id.is_not(None),
            sa.exists().where(
                Message.id == Attachment.message_id,
                Message.expires_at.is_not(None),
                Message.expires_at <= now,
            ),
        )
        .order_by(Attachment.id)
        .with_for_update(skip_locked=True)
    )
    return _delete_rows(storage, due, Attachment.deleted_at.is_(None), now)


# -- cleaning storage --------------------------------------------------------------------


@dataclass(frozen=True)
class Cleaned:
    """What clean_storage did: files deleted by why, files kept, and deletes that failed
    (logged; the next run tries again)."""

    of_deleted_rows: int = 0
    without_row: int = 0
    temporaries: int = 0
    kept: int = 0
    failed: int = 0
    expired: int = 0  # attachments of expired messages, everyone's
    unsent: int = 0  # uploads never sent, a day old, everyone's


def clean_storage(storage: Storage) -> Cleaned:
    """With no timer (an operator runs it, `flask attachments clean`): first delete, for
    every user, what logins and uploads delete for their own (attachments of expired
    messages, uploads never sent once a day old); then the files a crash or a failed
    delete left behind: those whose row is marked deleted, those with no row once
    STALE_AFTER old, and temporaries of unfinished puts once STALE_AFTER old.

    Never a file whose row is live (sent and visible, or unsent and younger than a day),
    nor a younger row-less file or temporary (an upload under way); files not named like
    an attachment's are not ours and are left. Rows are read in batches, each read ended
    before its files are deleted.
    """
    expired = delete_expired_everywhere(storage)
    unsent = _sweep_unsent_where(storage)
    stale = clock.now() - STALE_AFTER
    counts = {"of_deleted_rows": 0, "without_row": 0, "kept": 0, "failed": 0}
    for batch in _batches(storage.keys(), CLEAN_BATCH):
        deleted_at = _deleted_at_of(batch)
        doomed: dict[str, list[str]] = {"of_deleted_rows": [], "without_row": []}
        for stored in batch:
            attachment_id = _attachment_id(stored.key)
            if attachment_id is None:
                continue  # not an attachment's file
            if attachment_id in deleted_at:
                why = "kept" if deleted_at[attachment_id] is None else "of_deleted_rows"
            else:
                why = "without_row" if stored.modified < stale else "kept"
            if why == "kept":
                counts["kept"] += 1
            else:
                doomed[why].append(stored.key)
        for why, keys in doomed.items():
            done = delete_all(storage, keys)
            counts[why] += done
            counts["failed"] += len(keys) - done
    return Cleaned(temporaries=storage.delete_temporaries(stale), expired=expired, unsent=unsent, **counts)


def _batches(keys: Iterable[StoredKey], size: int) -> Iterator[list[StoredKey]]:
    iterator = iter(keys)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _attachment_id(key: str) -> uuid.UUID | None:
    """The id of the attachment a storage key belongs to (its file or its thumbnail);
    None for a name the service never gives."""
    text = key.removesuffix(THUMBNAIL_SUFFIX)
    try:
        attachment_id = uuid.UUID(text)
    except ValueError:
        return None
    return attachment_id if str(attachment_id) == text else None  # the form str() gives, as stored


def _deleted_at_of(batch: Sequence[StoredKey]) -> dict[uuid.UUID, datetime | None]:
    """deleted_at of the rows of these files (None: live), in a read of its own."""
    ids = {attachment_id for stored in batch if (attachment_id := _attachment_id(stored.key)) is not None}
    if not ids:
        return {}
    with read_transaction():
        rows = db.session.execute(
            sa.select(Attachment.id, Attachment.deleted_at).where(Attachment.id.in_(ids))
        ).all()
    return {row.id: row.deleted_at for row in rows}
