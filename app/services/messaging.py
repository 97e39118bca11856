"""Messages: fetching pages, delivery and read receipts (sending is in app/services/sending.py)."""

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from app import clock
from app.database import read_transaction, single_statement
from app.errors import InvalidCursor
from app.extensions import db
from app.models import ConversationParticipant, Message
from app.services.conversations import require_participant
from app.services.events import Event
from app.services.expiry import visible_at


@dataclass(frozen=True)
class MessagePage:
    """A page of messages, oldest first; a page `around` a message also says whether
    more exist on each side of it."""

    messages: list[Message]
    has_more: bool
    events: list[Event] = field(default_factory=list)
    has_more_before: bool | None = None
    has_more_after: bool | None = None


@dataclass(frozen=True)
class ReadResult:
    """Messages newly marked read."""

    updated: int
    read_at: datetime | None
    message_ids: list[uuid.UUID]
    events: list[Event] = field(default_factory=list)


def fetch_messages(
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    limit: int,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    around: uuid.UUID | None = None,
) -> MessagePage:
    """A page of visible messages, oldest first; also marks others' messages delivered.

    `around` gives that message with up to `limit` on either side (hasMore then
    speaks of the older side, as for the other pages)."""
    if sum(cursor is not None for cursor in (before, after, around)) > 1:
        raise InvalidCursor("Give one of before, after or around, not several.")
    require_participant(conversation_id, viewer_id)
    now = clock.now()
    with read_transaction():
        if around is not None:
            older, has_more_before = _page(conversation_id, limit, around, False, now)
            newer, has_more_after = _page(conversation_id, limit, around, True, now, inclusive=True)
            page = MessagePage(older + newer, has_more_before, [], has_more_before, has_more_after)
        else:
            rows, has_more = _page(conversation_id, limit, before or after, after is not None, now)
            page = MessagePage(rows, has_more)
    undelivered = {m.id: m for m in page.messages if m.sender_id != viewer_id and m.delivered_at is None}
    if not undelivered:
        return page
    delivered = _deliver(viewer_id, list(undelivered), conversation_id, now)
    for row in delivered:  # the page shows what was just written, without a reload
        set_committed_value(undelivered[row.id], "delivered_at", now)
    return replace(page, events=_delivery_events(delivered, now))


def _page(
    conversation_id: uuid.UUID,
    limit: int,
    cursor_id: uuid.UUID | None,
    ascending: bool,
    now: datetime,
    inclusive: bool = False,
) -> tuple[list[Message], bool]:
    """Up to `limit` visible messages next to the cursor in commit order (seq), oldest
    first, and whether more exist; `inclusive` adds a visible cursor message itself."""
    query = sa.select(Message).where(Message.conversation_id == conversation_id, visible_at(now))
    if cursor_id is not None:
        cursor_query = sa.select(Message.seq).where(
            Message.id == cursor_id, Message.conversation_id == conversation_id
        )
        cursor = db.session.scalar(cursor_query.where(visible_at(now)) if inclusive else cursor_query)
        if cursor is None:
            raise InvalidCursor(
                "That message is gone (it expired)."
                if inclusive and db.session.scalar(cursor_query)
                else None
            )
        if inclusive:
            query = query.where(Message.seq >= cursor)
            limit += 1
        else:
            query = query.where(Message.seq > cursor if ascending else Message.seq < cursor)
    query = query.order_by(Message.seq.asc() if ascending else Message.seq.desc()).limit(limit + 1)
    rows = list(db.session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not ascending:
        rows.reverse()
    return rows, has_more


def mark_delivered(
    recipient_id: uuid.UUID,
    message_ids: list[uuid.UUID],
    *,
    conversation_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> list[Event]:
    """Set deliveredAt on messages sent to the recipient that do not have it yet."""
    at = at or clock.now()
    return _delivery_events(_deliver(recipient_id, message_ids, conversation_id, at), at)


def _deliver(
    recipient_id: uuid.UUID, message_ids: list[uuid.UUID], conversation_id: uuid.UUID | None, at: datetime
) -> list[sa.Row]:
    """The delivery receipt UPDATE (one statement); returns the rows it changed."""
    conditions = [
        Message.id.in_(message_ids),
        Message.sender_id != recipient_id,
        Message.delivered_at.is_(None),
        visible_at(at),  # an expired message is gone: no receipt
        Message.conversation_id.in_(
            sa.select(ConversationParticipant.conversation_id).where(
                ConversationParticipant.user_id == recipient_id
            )
        ),
    ]
    if conversation_id is not None:
        conditions.append(Message.conversation_id == conversation_id)
    return _update_returning(
        sa.update(Message)
        .where(*conditions)
        .values(delivered_at=at)
        .returning(Message.id, Message.sender_id, Message.conversation_id)
    )


def _delivery_events(rows: list[sa.Row], at: datetime) -> list[Event]:
    """The message:delivered events of the rows a delivery receipt changed."""
    return _receipt_events("message:delivered", rows, {"deliveredAt": _iso(at)})


def mark_read(
    reader_id: uuid.UUID, conversation_id: uuid.UUID, message_ids: list[uuid.UUID] | None
) -> ReadResult:
    """Mark others' unread, visible messages as read (all of them when no ids are given)."""
    require_participant(conversation_id, reader_id)
    now = clock.now()
    conditions = [
        Message.conversation_id == conversation_id,
        Message.sender_id != reader_id,
        Message.is_read == sa.false(),
        visible_at(now),
    ]
    if message_ids is not None:
        conditions.append(Message.id.in_(message_ids))
    updated = _update_returning(
        sa.update(Message)
        .where(*conditions)
        .values(
            is_read=True,
            read_at=now,
            delivered_at=sa.func.coalesce(Message.delivered_at, now),
            updated_at=now,
        )
        .returning(Message.id, Message.sender_id, Message.conversation_id)
    )
    events = _receipt_events("message:read", updated, {"readerId": str(reader_id), "readAt": _iso(now)})
    ids = [row.id for row in updated]
    return ReadResult(len(ids), now if ids else None, ids, events)


def _update_returning(statement: sa.Update) -> list[sa.Row]:
    """Run one receipt UPDATE as a transaction of its own and return the rows it changed."""
    with single_statement() as connection:
        return connection.execute(statement).all()


def _receipt_events(name: str, rows: list, extra: dict) -> list[Event]:
    """One receipt event per (sender, conversation), listing the message ids."""
    grouped: dict[tuple[uuid.UUID, uuid.UUID], list[str]] = {}
    for row in rows:
        grouped.setdefault((row.sender_id, row.conversation_id), []).append(str(row.id))
    return [
        Event(name, {"conversationId": str(cid), "messageIds": ids, **extra}, (str(sender),))
        for (sender, cid), ids in grouped.items()
    ]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
